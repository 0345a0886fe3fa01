#!/usr/bin/env bash
# Builds and runs a small downstream program the way a user consumes redstream, one way per mode:
#   find_package     `cmake --install` the built tree into a temp prefix, then find_package()
#   pkg-config       the same install, then a plain compiler line with `pkg-config --cflags --libs`
#   add_subdirectory a project that add_subdirectory()s the checkout
#   fetch_content    a project that FetchContent()s a source archive of the checkout
# Arguments: <mode> <build dir> <source dir of redstream>. Environment: CXXFLAGS_FOR_CONSUMER
# (the flags the library was built with, e.g. sanitizers), EXPECT_PROMETHEUS=ON|OFF.
set -euo pipefail
mode=$1
build_dir=$2
source_dir=$3
here=$source_dir/tests/package
flags=${CXXFLAGS_FOR_CONSUMER:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

configure() { # <project dir> [cmake args...]
  local project=$1
  shift
  cmake -S "$project" -B "$work/build" -G Ninja -DCMAKE_CXX_FLAGS="$flags" "$@" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; exit 1; }
  cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
}

case $mode in
find_package)
  cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
  configure "$here/find_package" -DCMAKE_PREFIX_PATH="$work/prefix" -DEXPECT_PROMETHEUS="${EXPECT_PROMETHEUS:-OFF}"
  "$work/build/consumer"
  if [ "${EXPECT_PROMETHEUS:-OFF}" = ON ]; then "$work/build/prometheus_consumer"; fi
  ;;
pkg-config)
  cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
  pc_dir=$(dirname "$(find "$work/prefix" -name redstream.pc | head -1)")
  export PKG_CONFIG_PATH=$pc_dir
  pkg-config --exists --print-errors redstream
  echo "pkg-config: redstream $(pkg-config --modversion redstream): $(pkg-config --cflags --libs redstream)"
  # shellcheck disable=SC2046,SC2086 # word splitting of the flags is the point
  c++ -std=c++20 $flags -Wall -Wextra -Werror -pedantic "$here/consumer.cpp" -o "$work/consumer" \
      $(pkg-config --cflags --libs redstream)
  "$work/consumer"
  ;;
add_subdirectory)
  # A unity build halves the time of building the library again (and proves it builds that way).
  configure "$here/add_subdirectory" -DREDSTREAM_SOURCE_DIR="$source_dir" -DCMAKE_UNITY_BUILD=ON
  "$work/build/consumer"
  ;;
fetch_content)
  # The checkout as a release archive: sources only, no build trees or git metadata.
  tar -C "$source_dir" --exclude=./build --exclude=./.git -czf "$work/redstream-src.tar.gz" .
  configure "$here/fetch_content" -DREDSTREAM_ARCHIVE="$work/redstream-src.tar.gz" -DCMAKE_UNITY_BUILD=ON
  "$work/build/consumer"
  ;;
*)
  echo "run.sh: unknown mode $mode" >&2
  exit 2
  ;;
esac
