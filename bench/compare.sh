#!/usr/bin/env bash
# Benchmarks Portcullis against the anchors (direct upstream, nginx, nginx +
# ModSecurity + CRS) with the shared harness, in one run, same pinning.
# usage: bench/compare.sh [extra compare.sh options, e.g. -d 10 -r 3 -a "direct proxy"]
# Needs the packages listed in ../shared/bench/README.md (nginx, wrk, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
cargo build --release -p portcullis --manifest-path "$root/Cargo.toml"
bin=$root/target/release/portcullis
config=$root/bench/gateway.yaml
cmd="sed -e \"s/@PORT@/\$BENCH_PORT/\" -e \"s/@UPSTREAM@/\$BENCH_UPSTREAM/\" $config > /tmp/portcullis-bench-\$BENCH_PORT.yaml && exec $bin serve --config /tmp/portcullis-bench-\$BENCH_PORT.yaml --threads \$BENCH_WORKERS"
exec "$harness/compare.sh" -T portcullis 18090 "$cmd" "$@"
