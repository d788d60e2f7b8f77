#!/usr/bin/env bash
# Packs a release build for a machine that has none of sparq's dependencies
# (a lent benchmark machine with another CPU, AMX for instance): the unit
# test programs, the sparq CLI, the three layer benchmarks and every shared
# library they load except glibc's, as one compressed tarball. On the other
# machine, scripts/run_bundle.sh unpacks it and runs the tests and the
# benchmark suite from a checkout of the same commit.
#   scripts/make_bundle.sh [OUT.tar.xz]     default: build/bundle/sparq-bundle.tar.xz
#   BUILD_DIR  the release build tree (default: build/release; built first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/release}
out=${1:-$root/build/bundle/sparq-bundle.tar.xz}

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
mapfile -t unit_tests < <(cd "$root/tests/unit" && ls -- *_test.cpp | sed 's/\.cpp$//')
cmake --build "$build" --target sparq_cli dense_ops_bench sparse_conv_bench sparse_conv_paths_bench \
  "${unit_tests[@]}" >&2

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/build/tools/cli" "$stage/build/bench" "$stage/tests"
programs=("$build/tools/cli/sparq" "$build/bench/dense_ops_bench" "$build/bench/sparse_conv_bench"
  "$build/bench/sparse_conv_paths_bench")
for t in "${unit_tests[@]}"; do programs+=("$build/tests/$t"); done
for p in "${programs[@]}"; do
  [[ -x "$p" ]] || { echo "make_bundle.sh: $p missing after the build" >&2; exit 1; }
  strip -o "$stage/bin/$(basename "$p")" "$p"
done

# Every library the programs load, except the C library's own (the other
# machine's glibc is the same or newer; a foreign one would not fit its loader).
glibc='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv)\.so'
ldd "${programs[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
  while read -r name path; do
    [[ "$name" =~ $glibc ]] || cp -L "$path" "$stage/lib/$name"
  done

# The programs run through wrappers that put lib/ on the library path for
# them alone: a Python that loads its own C++ runtime (ONNX Runtime's, for
# the suite's peer) must not pick up these libraries.
wrap() {
  cat >"$1" <<EOF
#!/bin/sh
here=\$(cd "\$(dirname "\$0")" && pwd)
bundle=\${here%$2}
LD_LIBRARY_PATH="\$bundle/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$bundle/bin/$3" "\$@"
EOF
  chmod +x "$1"
}
wrap "$stage/build/tools/cli/sparq" /build/tools/cli sparq
for b in dense_ops_bench sparse_conv_bench sparse_conv_paths_bench; do wrap "$stage/build/bench/$b" /build/bench "$b"; done
for t in "${unit_tests[@]}"; do wrap "$stage/tests/$t" /tests "$t"; done
# Unit tests open committed files under the source path compiled into them.
echo "$root" >"$stage/SOURCE_DIR"
git -C "$root" rev-parse HEAD >"$stage/COMMIT" 2>/dev/null || echo unknown >"$stage/COMMIT"
git -C "$root" status --porcelain --untracked-files=no | grep -q . && echo dirty >>"$stage/COMMIT" || true

mkdir -p "$(dirname "$out")"
tar -C "$stage" -cf - . | xz -T0 -6 >"$out"
echo "make_bundle.sh: $out ($(du -h "$out" | cut -f1)): ${#programs[@]} programs," \
  "$(ls "$stage/lib" | wc -l) libraries, commit $(head -1 "$stage/COMMIT")" >&2
echo "$out"
