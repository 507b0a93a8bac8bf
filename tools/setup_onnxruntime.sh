#!/usr/bin/env bash
# Assembles ONNX Runtime in the official release layout (include/, lib/) under
# <repo>/.deps/onnxruntime, from two npm packages, because Microsoft's release archives cannot
# be downloaded here and Debian 12 has no onnxruntime package (ECOSYSTEM.md §5b):
#   onnxruntime-node@1.30.0         -> lib/libonnxruntime.so.1 (Linux x64, SONAME .so.1)
#   com.github.asus4.onnxruntime@0.4.9 -> include/*.h (Microsoft's MIT C/C++ API headers)
# Only these two tarballs are fetched (`npm pack`, no install scripts run); nothing else.
# Idempotent: does nothing when the layout is already complete.
#   tools/setup_onnxruntime.sh             assemble into .deps/onnxruntime
#   STRATA_ORT_DIR=dir tools/setup_onnxruntime.sh   assemble somewhere else
# Then configure with -DSTRATA_ONNXRUNTIME_ROOT=<dir> (found automatically at the default).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly ort_node_pkg="onnxruntime-node@1.30.0"
readonly ort_headers_pkg="com.github.asus4.onnxruntime@0.4.9"
readonly so_in_tarball="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
readonly headers_glob="package/Plugins/iOS~/onnxruntime.xcframework/*/onnxruntime.framework/Headers"
readonly needed_headers=(onnxruntime_c_api.h onnxruntime_cxx_api.h onnxruntime_cxx_inline.h)

dest=${STRATA_ORT_DIR:-"$PWD/.deps/onnxruntime"}

complete() {
  [ -f "$dest/lib/libonnxruntime.so.1" ] && [ -e "$dest/lib/libonnxruntime.so" ] || return 1
  for h in "${needed_headers[@]}"; do [ -f "$dest/include/$h" ] || return 1; done
}

if complete; then
  echo "setup_onnxruntime: already present in $dest"
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "setup_onnxruntime: only Linux x86_64 is assembled from npm; install an official" \
    "ONNX Runtime release and pass -DSTRATA_ONNXRUNTIME_ROOT=<dir>" >&2
  exit 1
fi
command -v npm >/dev/null || {
  echo "setup_onnxruntime: npm is needed (apt-get install -y npm)" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch <package@version>: prints the tarball path
  echo "setup_onnxruntime: fetching $1 with npm pack (large; may take a minute)" >&2
  (cd "$work" && npm pack --silent --loglevel=error "$1") | tail -n 1 | sed "s|^|$work/|"
}

node_tgz=$(fetch "$ort_node_pkg")
mkdir -p "$work/node"
tar -xzf "$node_tgz" -C "$work/node" "$so_in_tarball"
rm -f "$node_tgz"

headers_tgz=$(fetch "$ort_headers_pkg")
mkdir -p "$work/headers"
tar -xzf "$headers_tgz" -C "$work/headers" --wildcards "$headers_glob/*.h"
rm -f "$headers_tgz"
# The xcframework holds the same headers once per Apple slice; any one will do.
headers_dir=$(find "$work/headers" -type d -name Headers -path '*onnxruntime.framework*' | sort | head -n 1)
for h in "${needed_headers[@]}"; do
  [ -f "$headers_dir/$h" ] || {
    echo "setup_onnxruntime: $h missing from $ort_headers_pkg" >&2
    exit 1
  }
done

# Assemble beside the destination and move into place, so an interrupted run leaves nothing
# half-made that `complete` would accept.
staging="$dest.partial"
rm -rf "$staging"
mkdir -p "$staging/include" "$staging/lib"
cp "$headers_dir"/*.h "$staging/include/"
cp "$work/node/$so_in_tarball" "$staging/lib/libonnxruntime.so.1"
ln -s libonnxruntime.so.1 "$staging/lib/libonnxruntime.so"
cat >"$staging/VERSION_INFO" <<EOF
library: $ort_node_pkg ($so_in_tarball)
headers: $ort_headers_pkg ($(basename "$(dirname "$(dirname "$headers_dir")")"))
EOF
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$staging" "$dest"
echo "setup_onnxruntime: assembled ONNX Runtime in $dest"
