#!/usr/bin/env bash
# STAGECRAFT_SIZE for ../shared/bench: prints image $1's uncompressed size in bytes (as docker's image
# Size): its layer blobs (gzip, zstd or plain tar) decompressed and counted.
set -euo pipefail
: "${STAGECRAFT:?}" "${BENCH_ROOT:?}"
# shellcheck disable=SC2086
layers=$($STAGECRAFT inspect --json "$1" | node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{for(const l of JSON.parse(s).layers)console.log(l.digest.slice(7))})')
for hex in $layers; do
  blob="$BENCH_ROOT/content/blobs/sha256/$hex"
  case "$(od -An -tx1 -N4 "$blob" | tr -d ' \n')" in
    1f8b08*) gzip -dc "$blob" ;;
    28b52ffd) zstd -dc "$blob" ;;
    *) cat "$blob" ;; # a plain tar layer (local-only builds)
  esac
done | wc -c
