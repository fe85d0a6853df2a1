#!/usr/bin/env bash
# Starts (or stops) a 3-master Redis Cluster on 127.0.0.1:17001-17003 for the
# benchmarks, pinned to core 1 like the harness' other helpers (the
# gateway alone on core 0): bench/gateway-limits-redis-cluster.yaml uses it.
#
#   bench/redis-cluster.sh start | stop
set -euo pipefail
ports=(17001 17002 17003)
dir=/tmp/portcullis-bench/redis-cluster
case "${1:-start}" in
  start)
    mkdir -p "$dir"
    for port in "${ports[@]}"; do
      mkdir -p "$dir/$port"
      rm -f "$dir/$port/nodes.conf"
      (cd "$dir/$port" && taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 \
        --cluster-enabled yes --cluster-config-file nodes.conf --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/$port/pid" --logfile "$dir/$port/log")
    done
    for port in "${ports[@]}"; do
      for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    done
    redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
    for _ in $(seq 200); do
      ok=0
      for port in "${ports[@]}"; do
        redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' && ok=$((ok + 1))
      done
      [[ $ok == "${#ports[@]}" ]] && break
      sleep 0.1
    done
    echo "[bench] redis cluster up on ${ports[*]}"
    ;;
  stop)
    for port in "${ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
