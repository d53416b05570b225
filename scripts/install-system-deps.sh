#!/usr/bin/env bash
# Installs the Debian packages stagecraft and its tests need, if missing. Needs root (or sudo).
set -euo pipefail
PACKAGES=(runc slirp4netns iproute2 gcc libc6-dev busybox-static docker-registry skopeo debootstrap apache2-utils zstd openssh-client bsdutils time docker.io rpm golang-go chromium fonts-dejavu-core prometheus diffoscope-minimal qemu-user-static binfmt-support uidmap python3-packaging)
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages' own registry and Prometheus services are not needed (tests start their own on free ports).
for service in docker-registry prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
# Multi-platform builds run RUN steps of other architectures through QEMU user emulation: binfmt_misc
# mounted and qemu-user-static's handlers enabled (Debian registers them with flags PF: the F flag lets
# runc containers, which hold no interpreter, run foreign binaries). Containers without the privilege to
# mount binfmt_misc skip this with a note; stagecraft says what is missing when a build needs it.
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || echo "note: cannot mount binfmt_misc (multi-platform RUN steps need it)"
fi
if [ -e /proc/sys/fs/binfmt_misc/status ]; then
  for arch in aarch64 arm riscv64 ppc64le s390x; do
    [ -e "/proc/sys/fs/binfmt_misc/qemu-$arch" ] || $SUDO update-binfmts --enable "qemu-$arch" 2>/dev/null || echo "note: cannot enable qemu-$arch in binfmt_misc"
  done
fi
