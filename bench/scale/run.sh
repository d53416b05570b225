#!/usr/bin/env bash
# npm run bench:scale [-- run.ts FLAGS]: the scaling benchmark (bench/scale/run.ts) for stagecraft and
# dockerd's BuildKit, then the plots and table (bench/scale/plot.ts) next to its JSON.
#   npm run bench:scale -- --sizes small                   # the two smallest sizes of each dimension
#   npm run bench:scale -- --dims files,steps --runs 3
#   BENCH_PUBLISH=1 npm run bench:scale                    # also docs/perf/ and docs/performance.md
# Base images come from the local registry bench/bases.sh starts. When `docker info` fails and
# BuildKit is wanted, dockerd (Debian's docker.io) is started here, as ../shared/bench says, and
# stopped again on exit; a dockerd that was already running is used and left alone.
# Environment: STAGECRAFT_SHARED (the shared folder), BENCH_SKIP_BUILD (set: use dist/ as it is),
# BENCH_PUBLISH (set: write docs/perf/scale.json, the SVGs and the table in docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED="${STAGECRAFT_SHARED:-$(cd .. && pwd)/shared}"
[ "$(id -u)" = 0 ] || { echo "bench:scale: needs root (runc, overlayfs, dockerd)" >&2; exit 2; }
[ -f "$SHARED/tools/make-base-images.sh" ] || { echo "bench:scale: $SHARED/tools/make-base-images.sh not found; set STAGECRAFT_SHARED" >&2; exit 2; }
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
[ -n "${BENCH_SKIP_BUILD:-}" ] || npm run build >/dev/null
bash bench/bases.sh "$SHARED" 127.0.0.1:5000 >/dev/null

DOCKER="${DOCKER:-/usr/bin/docker}"
wants_buildkit=1
for a in "$@"; do case "$a" in --builders=*) [[ "$a" == *buildkit* ]] || wants_buildkit=0 ;; esac; done
prev=""
for a in "$@"; do [ "$prev" = --builders ] && { [[ "$a" == *buildkit* ]] || wants_buildkit=0; }; prev="$a"; done
started=""
stop_dockerd() {
  [ -n "$started" ] || return 0
  kill "$started" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$started" 2>/dev/null || break; sleep 0.2; done
  echo "bench:scale: stopped dockerd $started" >&2
}
trap stop_dockerd EXIT
extra=()
if [ "$wants_buildkit" = 1 ] && ! "$DOCKER" info >/dev/null 2>&1; then
  if command -v dockerd >/dev/null 2>&1; then
    nohup dockerd --host unix:///var/run/docker.sock >/tmp/stagecraft-scale-dockerd.log 2>&1 &
    started=$!
    for _ in $(seq 150); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.2; done
    "$DOCKER" info >/dev/null 2>&1 || { echo "bench:scale: dockerd did not start (see /tmp/stagecraft-scale-dockerd.log)" >&2; exit 1; }
    echo "bench:scale: started dockerd $started (stopped on exit)" >&2
  else
    echo "bench:scale: dockerd not installed: BuildKit skipped" >&2
    extra=(--builders stagecraft)
  fi
fi
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT="bench/results/scale-$STAMP.json"
node --import tsx bench/scale/run.ts --out "$OUT" "$@" "${extra[@]}"
if [ -n "${BENCH_PUBLISH:-}" ]; then
  node --import tsx bench/scale/plot.ts "$OUT" --out-dir docs/perf --json docs/perf/scale.json --doc docs/performance.md
else
  node --import tsx bench/scale/plot.ts "$OUT" --out-dir "bench/results/scale-$STAMP"
fi
