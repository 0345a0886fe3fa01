#!/usr/bin/env bash
# The cluster benchmark (issue 14): a private 3-master cluster against one server, same run,
# alternating rounds. Prints each round's figures and the medians and ratios.
#   benchmarks/cluster_bench.sh [REDSTREAM_BINARY] [ROUNDS]
set -euo pipefail
bin=${1:-build/release/redstream}
rounds=${2:-3}
messages=${MESSAGES:-300000}
rate=${RATE:-5000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

field() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }
p50() { grep -o '"p50":[0-9.]*' "$1" | cut -d: -f2; }
p99() { grep -o '"p99":[0-9.]*' "$1" | cut -d: -f2; }

for r in $(seq 1 "$rounds"); do
  "$bin" bench --messages "$messages" --partitions 12 --json 2>/dev/null | tail -1 > "$out/one.$r"
  "$bin" bench --messages "$messages" --cluster 3 --json 2>/dev/null | tail -1 > "$out/cluster.$r"
  "$bin" bench --messages $((rate * 5)) --rate "$rate" --partitions 12 --json 2>/dev/null | tail -1 > "$out/one_lat.$r"
  "$bin" bench --messages $((rate * 5)) --rate "$rate" --cluster 3 --json 2>/dev/null | tail -1 > "$out/cluster_lat.$r"
  for k in one cluster; do
    f=$out/$k.$r
    echo "round $r $k: consume $(field "$f" consume_msgs_per_s) msg/s, client $(field "$f" client_cpu_us_per_msg) us/msg," \
         "server (summed) $(field "$f" server_cpu_us_per_msg) us/msg, commands $(field "$f" commands_per_msg)/msg," \
         "redirects $(field "$f" redirects), lost $(field "$f" lost)"
    echo "  nodes: $(grep -o '"node":"[^"]*","partitions":[0-9]*,"messages":[0-9]*' "$f" | sed 's/"node"://; s/"partitions"://; s/"messages"://' | tr '\n' ' ')"
    echo "  at $rate msg/s: p50 $(p50 "$out/${k}_lat.$r") us, p99 $(p99 "$out/${k}_lat.$r") us"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
med() { for r in $(seq 1 "$rounds"); do "$1" "$out/$2.$r" "${3:-}"; done | median; }
fld() { field "$1" "$2"; }
echo
printf "%-28s %12s %12s %8s\n" "median of $rounds" "one server" "3 masters" "ratio"
for k in consume_msgs_per_s client_cpu_us_per_msg server_cpu_us_per_msg commands_per_msg; do
  a=$(med fld one "$k"); b=$(med fld cluster "$k")
  printf "%-28s %12s %12s %8.2f\n" "$k" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print (a > 0 ? b / a : 0)}')"
done
for k in p50 p99; do
  a=$(for r in $(seq 1 "$rounds"); do $k "$out/one_lat.$r"; done | median)
  b=$(for r in $(seq 1 "$rounds"); do $k "$out/cluster_lat.$r"; done | median)
  printf "%-28s %12s %12s %8.2f\n" "latency $k us at $rate/s" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print (a > 0 ? b / a : 0)}')"
done
