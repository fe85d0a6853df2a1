#!/usr/bin/env bash
# Instructions per request of one Portcullis config, counted by valgrind's
# callgrind: repeatable for the same binary and inputs whatever else the
# machine is doing (wall-clock figures on this shared box are not).
#
#   bench/callgrind.sh [-c CONFIG] [-s SCENARIOS] [-d SECONDS] [-p PORT] [-a AUTH] [-k KEEP]
#     CONFIG     a bench config (default bench/gateway.yaml); @PORT@, @UPSTREAM@
#                and @DIR@ are filled in as bench/compare.sh does
#     SCENARIOS  comma list of wrk scenarios (default get_small,post_1k,get_64k)
#     AUTH       an Authorization value sent with every request (also
#                $BENCH_AUTH); for bench/gateway-jwt.yaml it defaults to
#                "Bearer $(cat bench/jwt-token.txt)"
#   PORTCULLIS_BIN overrides the binary (to compare two builds);
#     KEEP       a directory to keep each scenario's dump in
#                (KEEP/<config>.<scenario>.cg, for callgrind_annotate; also
#                $CALLGRIND_KEEP)
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
auth=${BENCH_AUTH:-}
while getopts "c:s:d:p:a:k:" opt; do
  case $opt in
    c) config=$OPTARG ;;
    s) scenarios=$OPTARG ;;
    d) seconds=$OPTARG ;;
    p) port=$OPTARG ;;
    a) auth=$OPTARG ;;
    k) CALLGRIND_KEEP=$OPTARG ;;
    *) exit 2 ;;
  esac
done
if [ -z "$auth" ] && [ "$(basename "$config")" = gateway-jwt.yaml ]; then
  auth="Bearer $(cat "$root/bench/jwt-token.txt")"
fi
bin=${PORTCULLIS_BIN:-$root/target/release/portcullis}
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
# Kept dumps must name their functions themselves (earlier parts are deleted).
vgopts=()
[ -n "${CALLGRIND_KEEP:-}" ] && vgopts=(--compress-strings=no --compress-pos=no)
valgrind --tool=callgrind "${vgopts[@]}" --callgrind-out-file="$work/cg.%p" \
  "$bin" serve --config "$work/gateway.yaml" --threads 1 >"$work/out.log" 2>&1 &
vg=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.2
done

# wrk's -H fields are in wrk.headers before scenario.lua's init() adds its own.
headers=()
[ -n "$auth" ] && headers=(-H "Authorization: $auth")
wrk_run() { # scenario seconds -> "requests non2xx"
  BENCH_SCENARIO=$1 BENCH_DATA=$data wrk -t1 -c8 -d"$2" "${headers[@]}" \
    -s "$harness/wrk/scenario.lua" "http://127.0.0.1:$port" |
    sed -n 's/.*WRK .* requests=\([0-9]*\).* non2xx=\([0-9]*\).*/\1 \2/p'
}

for scenario in ${scenarios//,/ }; do
  wrk_run "$scenario" 1 >/dev/null
  callgrind_control -z "$vg" >/dev/null 2>&1
  read -r requests non2xx <<<"$(wrk_run "$scenario" "$seconds")"
  rm -f "$work"/cg.*.[0-9]*
  callgrind_control -d "$vg" >/dev/null 2>&1
  dump=$(ls -t "$work"/cg.* | head -1)
  instr=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  echo "CG config=$(basename "$config") scenario=$scenario requests=$requests non2xx=$non2xx instr_per_req=$((instr / requests))"
  if [ -n "${CALLGRIND_KEEP:-}" ]; then
    mkdir -p "$CALLGRIND_KEEP"
    cp "$dump" "$CALLGRIND_KEEP/$(basename "$config" .yaml).$scenario.cg"
  fi
  rm -f "$dump"
done
