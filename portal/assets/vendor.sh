#!/bin/sh
# Refreshes the vendored Bootstrap Italia files from its npm package:
#   portal/assets/vendor.sh [VERSION]
# The portal serves them from the binary (no JavaScript is vendored: every
# task works without it). Review the diff and the licence before committing.
set -eu
version="${1:-2.18.3}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/bootstrap-italia"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "bootstrap-italia@$version" >/dev/null && tar xzf bootstrap-italia-*.tgz)
pkg="$work/package"
rm -rf "$out"
mkdir -p "$out/fonts"
cp "$pkg/LICENSE" "$out/LICENSE"
# The stylesheet without its source-map comment (the map is not vendored).
sed 's|/\*# sourceMappingURL=[^*]*\*/||' "$pkg/dist/css/bootstrap-italia.min.css" >"$out/bootstrap-italia.min.css"
for weight in 300 regular 600 700; do
  cp "$pkg/dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-$weight.woff2" "$out/fonts/titillium-web-$weight.woff2"
done
cp "$pkg/dist/fonts/Titillium_Web/OFL.txt" "$out/fonts/OFL.txt"
echo "$version" >"$out/VERSION"
echo "vendored bootstrap-italia $version into $out"
