#!/usr/bin/env bash
# Fetches the pinned prebuilt OHIF viewer (npm @ohif/app, its static dist/) into
# <repo>/.deps/ohif/dist, which `strata serve` serves at / when `[viewer] dir` points there.
# Idempotent: does nothing when that version is already in place. Needs npm and network access
# to the npm registry. See ../../shared/ECOSYSTEM.md §3 for the layout of the package.
#   tools/setup_viewer.sh              fetch (if missing) and print the dist/ path
#   OHIF_VERSION=x.y.z tools/setup_viewer.sh   another version (default: the pinned one)
set -euo pipefail
cd "$(dirname "$0")/.."

version=${OHIF_VERSION:-3.13.2}
deps_dir=$PWD/.deps
dest=$deps_dir/ohif
stamp=$dest/VERSION

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -f "$dest/dist/index.html" ]; then
  echo "$dest/dist"
  exit 0
fi

mkdir -p "$deps_dir"
tarball=$deps_dir/ohif-app-$version.tgz
if [ ! -s "$tarball" ]; then
  work=$(mktemp -d "$deps_dir/.pack.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --no-audit --no-fund "@ohif/app@$version" >/dev/null)
  packed=$(find "$work" -maxdepth 1 -name 'ohif-app-*.tgz' | head -n 1)
  [ -n "$packed" ] || { echo "setup_viewer: npm pack produced no tarball" >&2; exit 1; }
  mv "$packed" "$tarball"
fi

# Extract next to the destination, then swap it in, so an interrupted run leaves no half tree.
staging=$(mktemp -d "$deps_dir/.ohif.XXXXXX")
tar -xzf "$tarball" -C "$staging" package/dist
[ -f "$staging/package/dist/index.html" ] || {
  echo "setup_viewer: $tarball has no dist/index.html" >&2
  rm -rf "$staging"
  exit 1
}
rm -rf "$dest"
mkdir -p "$dest"
mv "$staging/package/dist" "$dest/dist"
rm -rf "$staging"
echo "$version" >"$stamp"
echo "$dest/dist"
