#!/usr/bin/env bash
# Installs the already-built redstream into a temp prefix, then configures, builds and runs the
# consumer project against it. Arguments: <build dir> <source dir of this test>.
set -euo pipefail
build_dir=$1
here=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_CXX_FLAGS="${CXXFLAGS_FOR_CONSUMER:-}" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
