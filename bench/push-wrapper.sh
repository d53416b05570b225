#!/usr/bin/env bash
# The harness's push mode tags the image twice (-t stagecraft-bench/W:stagecraft -t REGISTRY/...) and
# adds --push. Like `docker buildx build --push`, stagecraft pushes every -t name, and the first would
# go to Docker Hub; in push runs this drops -t names without a registry host, then runs stagecraft.
set -euo pipefail
args=()
push=0
for a in "$@"; do [ "$a" = --push ] && push=1; done
while [ $# -gt 0 ]; do
  if [ "$push" = 1 ] && [ "$1" = -t ] && [ $# -gt 1 ] && [[ "$2" != *.*/* && "$2" != *:*/* ]]; then
    shift 2
    continue
  fi
  args+=("$1")
  shift
done
# shellcheck disable=SC2086
exec $STAGECRAFT_CLI "${args[@]}"
