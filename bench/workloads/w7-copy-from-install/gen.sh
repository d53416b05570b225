#!/usr/bin/env bash
# usage: gen.sh OUTDIR  -- (re)create the build context of w7-copy-from-install in OUTDIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: gen.sh OUTDIR}"
rm -rf "$out" && mkdir -p "$out/tools"
# The stand-in for yarn, written here so that the context's stamp (this file) covers it.
cat >"$out/tools/install.sh" <<'INSTALL'
#!/bin/sh
# yarn-install MODE: a stand-in for `yarn install` with no network. Slow (a fixed wait per package, as
# fetching and linking take) and deterministic: node_modules is a function of package.json, yarn.lock
# and MODE only, so BuildKit and stagecraft see the same bytes.
set -e
mode="${1:-dev}"
[ -f package.json ] && [ -f yarn.lock ] || { echo "yarn-install: package.json and yarn.lock needed" >&2; exit 1; }
mkdir -p node_modules
grep -o '^pkg-[a-z]*-[0-9]*' yarn.lock | sort -u | sed 's|^|node_modules/|; s|$|/lib|' | xargs mkdir -p
# One record a package (yarn.lock entries are separated by blank lines): its manifest and three files.
awk -v mode="$mode" 'BEGIN { RS = "" } /^pkg-/ {
  split($1, name, "@"); dir = "node_modules/" name[1]
  printf "{\"name\":\"%s\",\"mode\":\"%s\"}\n", name[1], mode > (dir "/package.json")
  n = split("index util extra", files, " ")
  for (i = 1; i <= n; i++) { printf "// %s %s\nmodule.exports = %c%s%c;\n", mode, files[i], 96, $0, 96 > (dir "/lib/" files[i] ".js"); close(dir "/lib/" files[i] ".js") }
  close(dir "/package.json")
}' yarn.lock
# fetching: ~6 s, as a registry mirror on the LAN gives for a few hundred packages
sleep 6
echo "installed $(ls node_modules | wc -l) packages ($mode)"
INSTALL
chmod 755 "$out/tools/install.sh"
for part in client backend; do
  mkdir -p "$out/$part/src" "$out/$part/spec"
  # package.json with 60 dependencies and a yarn.lock of 240 packages, as a mid-size app has.
  {
    echo '{'
    echo "  \"name\": \"$part\","
    echo '  "version": "1.0.0",'
    echo '  "dependencies": {'
    for i in $(seq 1 60); do printf '    "pkg-%s-%03d": "^%d.%d.0"%s\n' "$part" "$i" $((i % 7 + 1)) $((i % 13)) "$([ "$i" -lt 60 ] && echo ,)"; done
    echo '  }'
    echo '}'
  } >"$out/$part/package.json"
  for i in $(seq 1 240); do
    printf 'pkg-%s-%03d@^%d.0.0:\n  version "%d.%d.%d"\n  resolved "https://registry.yarnpkg.com/pkg-%s-%03d/-/pkg-%03d.tgz"\n  integrity sha512-%064d\n\n' \
      "$part" "$i" $((i % 7 + 1)) $((i % 7 + 1)) $((i % 13)) $((i % 5)) "$part" "$i" "$i" "$i"
  done >"$out/$part/yarn.lock"
  for i in $(seq 1 40); do
    {
      printf '// %s module %02d\n' "$part" "$i"
      printf 'const helper%02d = require("./m%02d.js");\n' $(((i % 40) + 1)) $(((i % 40) + 1))
      for j in $(seq 1 30); do printf 'function f%02d_%02d(x) { return x * %d + %d; }\n' "$i" "$j" "$j" "$i"; done
      printf 'module.exports = { f%02d_01 };\n' "$i"
    } >"$out/$part/src/m$(printf '%02d' "$i").js"
  done
  for i in $(seq 1 10); do printf 'test("case %d", () => { expect(%d).toBe(%d); });\n' "$i" "$i" "$i" >"$out/$part/spec/t$(printf '%02d' "$i").spec.js"; done
done
printf '// backend entry point\nconst TWEAK = 0;\nrequire("./m01.js");\nconsole.log("listening on 3000", TWEAK);\n' >"$out/backend/src/index.js"
printf '<!doctype html><title>todo</title><script src="app.js"></script>\n' >"$out/client/index.html"
printf 'export default { build: { outDir: "dist" } };\n' >"$out/client/vite.config.js"
"$here/mutate.sh" "$out" 0
find "$out" -exec touch -h -d @1704067200 {} +
