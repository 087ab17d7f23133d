#!/usr/bin/env bash
# Updates the charting library vendored into edge-control's dashboard
# (static/vendor/uplot): `make vendor` runs it. It fetches the npm package
# with npm (no other tool, no CDN), checks the tarball's integrity when the
# version is the recorded one, and copies the minified browser build, its
# stylesheet and its license. Commit the result; the binary embeds it.
#
#   control/dashboard/vendor.sh               # reinstall the recorded version
#   control/dashboard/vendor.sh 1.6.33        # move to another version
set -euo pipefail
cd "$(dirname "$0")"

# The version in use and the integrity npm reported for its tarball.
RECORDED_VERSION=1.6.32
RECORDED_INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==

version=${1:-$RECORDED_VERSION}
out=static/vendor/uplot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent --json "uplot@$version" >pack.json)
tarball=$(cd "$tmp" && node -e 'console.log(require("./pack.json")[0].filename)')
integrity=$(cd "$tmp" && node -e 'console.log(require("./pack.json")[0].integrity)')
if [ "$version" = "$RECORDED_VERSION" ] && [ "$integrity" != "$RECORDED_INTEGRITY" ]; then
  echo "uplot@$version: integrity $integrity, recorded $RECORDED_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tmp/$tarball" -C "$tmp"
mkdir -p "$out"
cp "$tmp/package/dist/uPlot.iife.min.js" "$out/uPlot.iife.min.js"
cp "$tmp/package/dist/uPlot.min.css" "$out/uPlot.min.css"
cp "$tmp/package/LICENSE" "$out/LICENSE"
printf 'uplot %s %s\n' "$version" "$integrity" >"$out/VERSION"
echo "vendored uplot $version ($integrity) into control/dashboard/$out"
if [ "$version" != "$RECORDED_VERSION" ]; then
  echo "now set RECORDED_VERSION=$version and RECORDED_INTEGRITY=$integrity in $0" >&2
fi
