# Sourced by the scripts/bench-* commands: the repository's .venv (moto, cargo-lambda) and an
# emulator on a free 127.0.0.1 port with the template's tables and queues deployed, the way
# scripts/test starts them. Call `start_emulator OUT_DIR`; it exports AWS_ENDPOINT_URL and
# dummy credentials, writes OUT_DIR/stack.json and stops the emulator on exit.

bench_venv() {
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  local stamp=.venv/.requirements-test.sha256 want
  want=$(cat scripts/requirements-*.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
    echo "$want" >"$stamp"
  fi
}

start_emulator() {
  local out=$1 port
  bench_venv
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$out/emulator.log" 2>&1 &
  emulator_pid=$!
  trap 'kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null || { echo "the emulator did not start" >&2; exit 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  ./scripts/deploy-test-stack --out "$out/stack.json" >/dev/null
}

# The machine the figures come from, for the record.
print_machine() {
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr), $(rustc --version)"
}
