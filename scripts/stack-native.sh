#!/usr/bin/env bash
# The l3af observability stack without Docker: the agent (npm start), Prometheus and node_exporter from
# Debian packages, on loopback, with the same configuration files as deploy/docker-compose.yml:
#   prometheus/prometheus.yml (unchanged: targets localhost:8898, localhost:9100, localhost:9090)
#   deploy/agent/l3afd.yaml   (its container paths replaced by this checkout's package repository
#                              and $L3AF_STATE; optionally another bpffs root)
# Ctrl-C (or SIGTERM) stops all three; the eBPF data plane stays attached, as with the agent alone.
#
#   sudo apt-get install prometheus prometheus-node-exporter   # once
#   sudo scripts/stack-native.sh
#
# The agent runs in the foreground of this script as `npm start` would run it (node --import tsx).
# Environment: L3AF_STATE (default /var/lib/l3af-native), STACK_DIR (Prometheus data, default
# /tmp/l3af-stack), L3AF_BPFFS (BpfMapDefaultPath, default /sys/fs/bpf: the agent mounts a bpffs there
# if none is mounted).
# Grafana has no Debian package: use deploy/docker-compose.yml, or point a Grafana at
# http://127.0.0.1:9090 and provision deploy/grafana/provisioning with dashboards/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
L3AF_STATE="${L3AF_STATE:-/var/lib/l3af-native}"
STACK_DIR="${STACK_DIR:-/tmp/l3af-stack}"
L3AF_BPFFS="${L3AF_BPFFS:-/sys/fs/bpf}"

die() { echo "stack-native: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the agent loads eBPF programs)"
for bin in prometheus prometheus-node-exporter node npm; do
  command -v "$bin" >/dev/null || die "$bin not found (Debian: apt-get install prometheus prometheus-node-exporter; Node.js 20)"
done
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 8898 53000 9090 9100; do
  if port_busy "$p"; then die "127.0.0.1:$p is in use (another stack or agent running?)"; fi
done

mkdir -p "$L3AF_STATE" "$STACK_DIR/prometheus-data"
AGENT_CFG="$STACK_DIR/l3afd.yaml"
sed -e "s#/var/lib/l3af#${L3AF_STATE}#g" \
    -e "s#file:///opt/l3af/programs/repo#file://${ROOT}/programs/repo#" \
    -e "s#BpfMapDefaultPath: /sys/fs/bpf#BpfMapDefaultPath: ${L3AF_BPFFS}#" \
    "$ROOT/deploy/agent/l3afd.yaml" > "$AGENT_CFG"

PIDS=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stack-native: stopping (the data plane stays attached)"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 0' INT TERM
trap 'rc=$?; stop_all; exit $rc' EXIT

wait_http() { # name url seconds
  local end=$((SECONDS + $3))
  until node -e "fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$2"; do
    [ $SECONDS -lt $end ] || die "$1 did not answer on $2 within $3 s (log: $STACK_DIR/$1.log)"
    sleep 1
  done
}

# what `npm start -- --config FILE` runs, with the agent as our direct child (signals reach it)
echo "stack-native: building the eBPF packages (make -C programs package)"
(cd "$ROOT" && npm run build:programs --silent && make -s -C programs package) >"$STACK_DIR/build.log" 2>&1 \
  || die "building the eBPF packages failed (see $STACK_DIR/build.log)"
# each in its own session: Ctrl-C reaches this script only, which then stops them in order
(cd "$ROOT" && exec setsid node --import tsx agent/src/main.ts --config "$AGENT_CFG") >"$STACK_DIR/agent.log" 2>&1 &
PIDS+=($!)
setsid prometheus-node-exporter --web.listen-address=127.0.0.1:9100 >"$STACK_DIR/node_exporter.log" 2>&1 &
PIDS+=($!)
setsid prometheus --config.file="$ROOT/prometheus/prometheus.yml" --storage.tsdb.path="$STACK_DIR/prometheus-data" \
  --web.listen-address=127.0.0.1:9090 --web.enable-lifecycle >"$STACK_DIR/prometheus.log" 2>&1 &
PIDS+=($!)

wait_http node_exporter http://127.0.0.1:9100/metrics 30
wait_http prometheus http://127.0.0.1:9090/-/ready 60
wait_http agent http://127.0.0.1:8898/metrics 180

cat <<INFO
l3af stack (native) is up; Ctrl-C stops it.
  Prometheus        http://127.0.0.1:9090        (targets: http://127.0.0.1:9090/targets, alerts: /alerts)
  node_exporter     http://127.0.0.1:9100/metrics
  agent REST API    http://127.0.0.1:53000/l3af/configs/v1   (Swagger UI: http://127.0.0.1:53000/swagger/)
  agent metrics     http://127.0.0.1:8898/metrics
  logs              $STACK_DIR/{agent,prometheus,node_exporter}.log
  Grafana           not in the native stack: see deploy/README.md
INFO
wait -n "${PIDS[@]}" || true
die "a process of the stack exited (see $STACK_DIR/*.log)"
