#!/usr/bin/env bash
# Builds stagecraft's own image with stagecraft, from this repository (issue 21, docs/kubernetes.md).
#   scripts/build-image.sh [TAG] [BUILD FLAGS...]
# e.g. scripts/build-image.sh registry.example.com/stagecraft:0.1.0 --push
# BASE=REF picks the Debian bookworm base image (default debian:bookworm-slim; offline, a local one:
# ../shared/tools/make-base-images.sh makes it). Needs root, as every stagecraft build.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-stagecraft:$(node -p "require('./package.json').version")}
shift || true
npm run build >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Production dependencies only, pruned from the installed tree (no download: native addons stay built).
mkdir "$stage/node_modules"
cp -a node_modules/. "$stage/node_modules/"
cp package.json package-lock.json "$stage/"
(cd "$stage" && npm prune --omit=dev --offline --no-audit --no-fund >/dev/null)
mkdir "$stage/node"
cp "$(command -v node)" "$stage/node/node"
node dist/cli.js build --build-arg "BASE=${BASE:-debian:bookworm-slim}" \
  --build-context "node=$stage/node" --build-context "modules=$stage/node_modules" \
  -t "$tag" "$@" .
