#!/usr/bin/env bash
# Benchmarks Portcullis against the anchors (direct upstream, nginx, nginx +
# ModSecurity + CRS) with the shared harness, in one run, same pinning.
# usage: bench/compare.sh [extra compare.sh options, e.g. -d 10 -r 3 -a "direct proxy"]
# BENCH_TARGETS picks the Portcullis configs measured, each as label:config
# (config in bench/), optionally label:config:binary to measure another build
# of the binary side by side; default "portcullis:gateway.yaml". For example:
#   BENCH_TARGETS="portcullis:gateway.yaml openapi:gateway-openapi.yaml detect:gateway-detect.yaml"
# Needs the packages listed in ../shared/bench/README.md (nginx, wrk, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
cargo build --release -p portcullis --manifest-path "$root/Cargo.toml"
bin=$root/target/release/portcullis
targets=()
port=18090
for entry in ${BENCH_TARGETS:-portcullis:gateway.yaml}; do
  label=${entry%%:*}
  rest=${entry#*:}
  config=$root/bench/${rest%%:*}
  target_bin=$bin
  [[ $rest == *:* ]] && target_bin=${rest#*:}
  [[ -f $config ]] || { echo "no such config: $config" >&2; exit 2; }
  cmd="sed -e \"s/@PORT@/\$BENCH_PORT/\" -e \"s/@UPSTREAM@/\$BENCH_UPSTREAM/\" -e \"s|@DIR@|$root/bench|\" $config > /tmp/portcullis-bench-\$BENCH_PORT.yaml && exec $target_bin serve --config /tmp/portcullis-bench-\$BENCH_PORT.yaml --threads \$BENCH_WORKERS"
  targets+=(-T "$label" "$port" "$cmd")
  port=$((port + 1))
done
exec "$harness/compare.sh" "${targets[@]}" "$@"
