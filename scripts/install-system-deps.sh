#!/usr/bin/env bash
# Installs the Debian packages stagecraft and its tests need, if missing. Needs root (or sudo).
set -euo pipefail
PACKAGES=(runc slirp4netns iproute2 gcc libc6-dev busybox-static docker-registry skopeo debootstrap apache2-utils zstd openssh-client bsdutils time docker.io rpm golang-go chromium fonts-dejavu-core prometheus diffoscope-minimal qemu-user-static binfmt-support uidmap python3-packaging)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
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
