#!/usr/bin/env bash
# Makes the example's base image with no internet: a static busybox image (Debian's busybox-static),
# pushed to a local docker-registry on 127.0.0.1:5000 (started here if nothing listens there).
#   scripts/example-bases.sh [REGISTRY]
set -euo pipefail
cd "$(dirname "$0")/.."
REG="${1:-127.0.0.1:5000}"
WORK="${STAGECRAFT_EXAMPLE_WORK:-/var/tmp/stagecraft-example}"
mkdir -p "$WORK"
if ! curl -fsS "http://$REG/v2/" >/dev/null 2>&1; then
  mkdir -p "$WORK/registry"
  cat >"$WORK/registry.yml" <<EOR
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/registry }, delete: { enabled: true } }
http: { addr: $REG }
EOR
  nohup docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  for _ in $(seq 50); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://$REG/v2/" >/dev/null || { echo "example-bases: registry did not start (see $WORK/registry.log)" >&2; exit 1; }
  echo "started docker-registry on $REG (log: $WORK/registry.log)"
fi
node --import tsx scripts/push-busybox.ts "$WORK" "$REG/busybox:latest"
