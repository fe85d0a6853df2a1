#!/usr/bin/env bash
# Instructions per request of one Portcullis config, counted by valgrind's
# callgrind: repeatable for the same binary and inputs whatever else the
# machine is doing (wall-clock figures on this shared box are not).
#
#   bench/callgrind.sh [-c CONFIG] [-s SCENARIOS] [-d SECONDS] [-p PORT] [-k KEEP]
#     CONFIG     a bench config (default bench/gateway.yaml); @PORT@, @UPSTREAM@
#                and @DIR@ are filled in as bench/compare.sh does
#     SCENARIOS  comma list of wrk scenarios (default get_small,post_1k,get_64k)
#     KEEP       a directory to keep each scenario's callgrind dump in
#                (KEEP/<config>.<scenario>.cg), for callgrind_annotate
#
# Needs the release binary (cargo build --release -p portcullis) and the bench
# upstream on 127.0.0.1:18080 (started here when it is not running). Prints one
# line per scenario: `CG config=.. scenario=.. requests=.. instr_per_req=..`.
# The count is user-space instructions of the whole process (all threads),
# after a warm-up, zeroed with callgrind_control -z.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
[ -d "$harness" ] || harness=/work/shared/bench
config=$root/bench/gateway.yaml
scenarios=get_small,post_1k,get_64k
seconds=3
port=18099
keep=
while getopts "c:s:d:p:k:" opt; do
  case $opt in
    c) config=$OPTARG ;;
    s) scenarios=$OPTARG ;;
    d) seconds=$OPTARG ;;
    p) port=$OPTARG ;;
    k) keep=$OPTARG ;;
    *) exit 2 ;;
  esac
done
bin=$root/target/release/portcullis
[ -x "$bin" ] || { echo "build first: cargo build --release -p portcullis" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is missing" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 2; }

if ! curl -sf -o /dev/null http://127.0.0.1:18080/healthz; then
  "$harness/start-anchors.sh" upstream >/dev/null
fi
data=${BENCH_DATA:-$( . "$harness/env.sh" >/dev/null 2>&1; echo "$DATA_DIR")}
[ -f "$data/body1k.json" ] || python3 "$harness/gen-data.py" "$data" >/dev/null

work=$(mktemp -d)
trap 'kill "$vg" 2>/dev/null; wait "$vg" 2>/dev/null; rm -rf "$work"' EXIT
sed -e "s/@PORT@/$port/" -e "s/@UPSTREAM@/127.0.0.1:18080/" -e "s|@DIR@|$root/bench|" \
  "$config" > "$work/gateway.yaml"
valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
  "$bin" serve --config "$work/gateway.yaml" --threads 1 >"$work/out.log" 2>&1 &
vg=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.2
done

wrk_run() { # scenario seconds -> requests
  BENCH_SCENARIO=$1 BENCH_DATA=$data wrk -t1 -c8 -d"$2" -s "$harness/wrk/scenario.lua" \
    "http://127.0.0.1:$port" | sed -n 's/.*WRK .* requests=\([0-9]*\).*/\1/p'
}

for scenario in ${scenarios//,/ }; do
  wrk_run "$scenario" 1 >/dev/null
  callgrind_control -z "$vg" >/dev/null 2>&1
  requests=$(wrk_run "$scenario" "$seconds")
  rm -f "$work"/cg.*.[0-9]*
  callgrind_control -d "$vg" >/dev/null 2>&1
  dump=$(ls -t "$work"/cg.* | head -1)
  instr=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  echo "CG config=$(basename "$config") scenario=$scenario requests=$requests instr_per_req=$((instr / requests))"
  if [ -n "$keep" ]; then
    mkdir -p "$keep"
    mv "$dump" "$keep/$(basename "$config" .yaml).$scenario.cg"
  else
    rm -f "$dump"
  fi
done
