# Sourced helper: a real Kafka-protocol broker (tansu, from crates.io) for manual checks and benchmarks.
#
#   source scripts/tansu.sh; start_tansu    # sets TANSU_BOOTSTRAP and TANSU_PID; stop_tansu stops it
#
# tansu is installed once into target/tools (about 20 minutes of compiling on 2 cores) unless `tansu`
# is already on PATH or TANSU_BIN names it. It runs in memory (`--storage-engine memory://tansu/`),
# so every start is an empty cluster, and it does not auto-create topics: whatever writes to it must
# create its topics through the admin API first.
TANSU_VERSION=${TANSU_VERSION:-0.6.0}

tansu_bin() {
  if [ -n "${TANSU_BIN:-}" ]; then echo "$TANSU_BIN"; return; fi
  if command -v tansu >/dev/null 2>&1; then command -v tansu; return; fi
  local root; root="$(pwd)/target/tools/tansu-$TANSU_VERSION"
  if [ ! -x "$root/bin/tansu" ]; then
    echo "installing tansu $TANSU_VERSION from crates.io into $root (once; ~20 min on 2 cores)" >&2
    cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked --root "$root" >&2
  fi
  echo "$root/bin/tansu"
}

start_tansu() {
  local bin port log
  bin=$(tansu_bin)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=$(mktemp /tmp/tansu.XXXXXX.log)
  "$bin" broker --storage-engine memory://tansu/ --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" >"$log" 2>&1 &
  TANSU_PID=$!
  TANSU_BOOTSTRAP="127.0.0.1:$port"
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "tansu $("$bin" --version | awk '{print $2}') listening at $TANSU_BOOTSTRAP (pid $TANSU_PID, log $log)" >&2
      return 0
    fi
    sleep 0.1
  done
  echo "tansu did not start; its log:" >&2; cat "$log" >&2; return 1
}

stop_tansu() {
  [ -n "${TANSU_PID:-}" ] || return 0
  kill -CONT "$TANSU_PID" 2>/dev/null || true
  kill "$TANSU_PID" 2>/dev/null || true
  wait "$TANSU_PID" 2>/dev/null || true
}
