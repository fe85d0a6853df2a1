#!/usr/bin/env bash
# Instructions per request spent by the bench *upstream* (nginx, 1 worker)
# when it is fed by a given front: the direct client, the nginx anchor, or a
# Portcullis config. A proxy also costs its upstream work (every forwarded
# header is parsed there), and on this 2-core box the upstream shares a core
# with wrk, so that cost shows up in the front's requests/s.
#
#   bench/callgrind-upstream.sh [-s SCENARIOS] FRONT...
#     FRONT  direct | proxy | a Portcullis bench config (bench/gateway.yaml)
# Prints `CGU front=.. scenario=.. upstream_instr_per_req=..`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
[ -d "$harness" ] || harness=/work/shared/bench
scenarios=get_small,post_1k,get_64k
while getopts "s:" opt; do
  case $opt in s) scenarios=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
. "$harness/env.sh" >/dev/null 2>&1
data=$DATA_DIR
"$harness/start-anchors.sh" upstream proxy >/dev/null
"$harness/stop-anchors.sh" upstream >/dev/null
prefix=$RUN_DIR/upstream
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  "$harness/start-anchors.sh" upstream >/dev/null || true
}
trap cleanup EXIT
valgrind --tool=callgrind --callgrind-out-file="$work/up.%p" \
  nginx -p "$prefix/" -c "$prefix/conf/nginx.conf" -g 'daemon off; master_process off;' \
  >"$work/up.log" 2>&1 &
up=$!
pids+=("$up")
for _ in $(seq 1 300); do curl -sf -o /dev/null http://127.0.0.1:18080/healthz && break; sleep 0.2; done

port=18098
for front in "$@"; do
  case $front in
    direct) url=http://127.0.0.1:18080 ;;
    proxy) url=http://127.0.0.1:18081 ;;
    *)
      sed -e "s/@PORT@/$port/" -e "s/@UPSTREAM@/127.0.0.1:18080/" -e "s|@DIR@|$root/bench|" \
        "$front" > "$work/gw-$port.yaml"
      "$root/target/release/portcullis" serve --config "$work/gw-$port.yaml" --threads 1 \
        >"$work/gw-$port.log" 2>&1 &
      pids+=("$!")
      for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
      url=http://127.0.0.1:$port
      port=$((port - 1))
      ;;
  esac
  for scenario in ${scenarios//,/ }; do
    run() { BENCH_SCENARIO=$scenario BENCH_DATA=$data wrk -t1 -c8 -d"$1" \
      -s "$harness/wrk/scenario.lua" "$url" | sed -n 's/.*WRK .* requests=\([0-9]*\).*/\1/p'; }
    run 1 >/dev/null
    callgrind_control -z "$up" >/dev/null 2>&1
    n=$(run 3)
    rm -f "$work"/up.*.[0-9]*
    callgrind_control -d "$up" >/dev/null 2>&1
    dump=$(ls -t "$work"/up.* | grep -v log | head -1)
    instr=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
    echo "CGU front=$(basename "$front") scenario=$scenario requests=$n upstream_instr_per_req=$((instr / n))"
    rm -f "$dump"
  done
done
