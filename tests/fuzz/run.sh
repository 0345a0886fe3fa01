#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan+UBSan) and runs it for a bounded time on a copy
# of the checked-in seed corpus. Arguments: <source root> <work dir> [seconds].
set -euo pipefail
src=$1
work=$2
seconds=${3:-60}
mkdir -p "$work/corpus"
cp -n "$src"/tests/fuzz/corpus/* "$work/corpus/" 2>/dev/null || true
sources=(src/resp/parser.cpp src/resp/error.cpp src/protocol/request.cpp src/protocol/stream_id.cpp src/protocol/error.cpp
         src/protocol/reply_reader.cpp src/protocol/entry_batch.cpp src/protocol/stream_readers.cpp src/mux/multiplexer.cpp
         tests/fuzz/fuzz_replies.cpp)
(cd "$src" && clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Iinclude -Isrc "${sources[@]}" -o "$work/fuzz_replies")
cd "$work"
./fuzz_replies -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -timeout=5 -print_final_stats=1 corpus 2>&1 | tail -12
