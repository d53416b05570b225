#!/usr/bin/env bash
# npm run bench [-- RUN.SH FLAGS]: runs the shared benchmark harness (../shared/bench/run.sh) for
# stagecraft and, when they are installed and working, for BuildKit (dockerd) and buildah, on the same
# workloads: the shared ones (w1-w6) and this repository's bench/workloads/* (w7-copy-from-install). Base images come from a local registry made by ../shared/tools/make-base-images.sh.
# Results (raw.tsv, summary.tsv, logs) go to bench/results/<time>-<builder>/.
#   npm run bench                              # all workloads, cold/warm/incr, 3 runs each
#   npm run bench -- -w w5-many-steps -m warm -n 5
#   BENCH_DOC=docs/performance.md npm run bench  # also writes the tables + issue 18's targets into the doc
# Environment: STAGECRAFT_SHARED (the shared folder), STAGECRAFT_BENCH_ROOT (stagecraft's state root),
# BENCH_BUILDERS (default "stagecraft docker buildah": those present run), BENCH_RESULTS (default
# bench/results), BENCH_SKIP_BUILD (set: use dist/ as it is), BENCH_DOC (a markdown file: combine.ts writes
# the tables between its `<!-- bench:begin -->` markers), BENCH_HARNESS (where the harness copy is made;
# default /var/tmp/stagecraft-bench-harness). The default run adds w4's build + push (-m push).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${STAGECRAFT_SHARED:-$(cd .. && pwd)/shared}"
[ -f "$SHARED/bench/run.sh" ] || { echo "bench: $SHARED/bench/run.sh not found; set STAGECRAFT_SHARED to the shared folder" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root (runc, overlayfs, debootstrap)" >&2; exit 2; }
command -v hyperfine >/dev/null 2>&1 || true
[ -n "${BENCH_SKIP_BUILD:-}" ] || npm run build >/dev/null
bash bench/bases.sh "$SHARED" 127.0.0.1:5000

# The shared harness plus this repository's workloads (bench/workloads/*: the shared folder is
# read-only): a copy of ../shared/bench with them added to ALL_WORKLOADS, so `-w all` runs them too.
HARNESS="${BENCH_HARNESS:-/var/tmp/stagecraft-bench-harness}"
rm -rf "$HARNESS" && mkdir -p "$HARNESS" && cp -a "$SHARED/bench/." "$HARNESS/"
EXTRA=""
for w in bench/workloads/*/; do
  [ -f "$w/Dockerfile" ] || continue
  cp -a "$w" "$HARNESS/" && EXTRA="$EXTRA $(basename "$w")"
done
sed -i "s/^ALL_WORKLOADS=\"\(.*\)\"$/ALL_WORKLOADS=\"\1$EXTRA\"/" "$HARNESS/lib/common.sh"
grep -q "^ALL_WORKLOADS=.*${EXTRA##* }\"" "$HARNESS/lib/common.sh" || { echo "bench: could not add$EXTRA to the harness's ALL_WORKLOADS" >&2; exit 2; }

ROOT="${STAGECRAFT_BENCH_ROOT:-/var/tmp/stagecraft-bench-root}"
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS="${BENCH_RESULTS:-bench/results}"
BUILDERS=" ${BENCH_BUILDERS:-stagecraft docker buildah} "
mkdir -p "$RESULTS" "$RESULTS/$STAMP-stagecraft"
# GNU time records stagecraft's peak RSS; python3 and cc make the workloads' contexts.
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || echo "bench: /usr/bin/time missing and not installable (apt-get install time): peak RSS will not be recorded" >&2
for tool in python3 cc; do command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is needed to generate the workloads' contexts (apt-get install python3 gcc)" >&2; exit 2; }; done
# Every stagecraft command runs under GNU time, which appends "peak-RSS-KB:command..." to rss.log.
if [ -x /usr/bin/time ]; then
  export STAGECRAFT_CLI="/usr/bin/time -a -o $(cd "$RESULTS" && pwd)/$STAMP-stagecraft/rss.log -f %M:%C node $PWD/dist/cli.js --root $ROOT"
else
  export STAGECRAFT_CLI="node $PWD/dist/cli.js --root $ROOT"
fi
export STAGECRAFT="bash $PWD/bench/push-wrapper.sh"
# Drops stagecraft's caches, keeping the bases as the harness does for BuildKit (bench/reset.sh).
export BENCH_ROOT="$ROOT"
BENCH_BASES="$(sed -n 's/^FROM \(127\.0\.0\.1:5000\/[^ ]*\).*/\1/p' "$HARNESS"/*/Dockerfile | sort -u | tr '\n' ' ')"
export BENCH_BASES
export STAGECRAFT_RESET="bash $PWD/bench/reset.sh"
# The image's uncompressed size, as docker reports it (bench/size.sh).
export STAGECRAFT_SIZE="bash $PWD/bench/size.sh"

ARGS=("$@")
PUSH_RUN=""
[ "${#ARGS[@]}" -gt 0 ] || { ARGS=(-w all -m cold,warm,incr -n 3); PUSH_RUN=1; }
run() {
  bash "$HARNESS/run.sh" -b "$1" "${ARGS[@]}" -o "$RESULTS/$STAMP-$1"
  # issue 18's w4 build + push target, in its own folder (combine.ts merges STAMP-BUILDER-push)
  [ -z "$PUSH_RUN" ] || bash "$HARNESS/run.sh" -b "$1" -w w4-big-layer -m push -n 3 -o "$RESULTS/$STAMP-$1-push"
}
wanted() { [[ "$BUILDERS" == *" $1 "* ]]; }
wanted stagecraft && run stagecraft
if ! wanted docker; then :; elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then run docker; else echo "bench: BuildKit (dockerd) not running: skipped" >&2; fi
if ! wanted buildah; then :; elif command -v buildah >/dev/null 2>&1; then run buildah; else echo "bench: buildah not installed: skipped" >&2; fi
node --import tsx bench/combine.ts "$RESULTS/$STAMP" ${BENCH_DOC:+--doc "$BENCH_DOC"}
