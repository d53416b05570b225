#!/usr/bin/env bash
# STAGECRAFT_RESET for ../shared/bench: drops stagecraft's caches. $1: keep-bases|all.
# keep-bases, as the harness does for BuildKit (`docker builder prune -af` keeps pulled images):
# `prune --all` drops every cache record, step result and cache mount but keeps tagged images with
# their unpacked layers, and the workloads' bases ($BENCH_BASES) are pulled (untimed; `pull` unpacks,
# as `docker pull` does). all: the state root ($BENCH_ROOT) is emptied.
set -euo pipefail
: "${STAGECRAFT:?}" "${BENCH_ROOT:?}"
if [ "${1:-keep-bases}" = all ]; then
  rm -rf "$BENCH_ROOT" && mkdir -p "$BENCH_ROOT"
  exit 0
fi
# shellcheck disable=SC2086
$STAGECRAFT prune --all --force >/dev/null
for base in ${BENCH_BASES:-}; do
  # shellcheck disable=SC2086
  $STAGECRAFT pull -q "$base" >/dev/null
done
