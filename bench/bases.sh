#!/usr/bin/env bash
# Makes the benchmark base images with ../shared/tools/make-base-images.sh, starting their registry
# here first. The shared script starts docker-registry while it holds its lock on fd 9, so a registry
# it started keeps that lock for its whole life and every later run of the script waits forever. A
# registry started here holds no such fd; one that does (left by an earlier run) is restarted.
#   bench/bases.sh SHARED_DIR [REGISTRY]
set -euo pipefail
SHARED="$1"
REG="${2:-127.0.0.1:5000}"
WORK="${BASE_WORK:-/var/tmp/stagecraft-bases}"
mkdir -p "$WORK/registry"
lock="$(realpath -m "$WORK/.lock")"
for pid in $(pgrep -x docker-registry || true); do
  for fd in /proc/"$pid"/fd/*; do
    if [ "$(readlink "$fd" 2>/dev/null)" = "$lock" ]; then
      echo "bases: restarting docker-registry $pid (it holds $lock)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      break
    fi
  done
done
if ! curl -fsS "http://$REG/v2/" >/dev/null 2>&1; then
  cat >"$WORK/registry.yml" <<EOR
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $WORK/registry }, delete: { enabled: true } }
http: { addr: $REG }
EOR
  nohup docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 9>&- &
  for _ in $(seq 50); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://$REG/v2/" >/dev/null || { echo "bases: registry did not start (see $WORK/registry.log)" >&2; exit 1; }
fi
exec bash "$SHARED/tools/make-base-images.sh" "$REG"
