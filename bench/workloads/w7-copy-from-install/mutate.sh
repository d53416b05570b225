#!/usr/bin/env bash
# usage: mutate.sh CONTEXT TOKEN  -- edit one line of the backend's source (TOKEN 0 = pristine state)
set -euo pipefail
ctx="${1:?usage: mutate.sh CONTEXT TOKEN}"; token="${2:?usage: mutate.sh CONTEXT TOKEN}"
f="$ctx/backend/src/index.js"
[ -f "$f" ] || { echo "mutate.sh: $f missing: run gen.sh first" >&2; exit 1; }
sed -i "s/^const TWEAK = .*/const TWEAK = ${token};/" "$f"
