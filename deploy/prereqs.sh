#!/usr/bin/env bash
# Everything `make test`, `make run` and `.ci/run` need besides PostgreSQL and RabbitMQ themselves, in one step:
#
#   1. the uv workspace (uv itself if missing, then `uv sync --frozen`);
#   2. RabbitMQ's management plugin (per-run test vhosts, `herald parked`) and Prometheus plugin (queue depths);
#   3. promtool and prometheus (alert-rule unit tests, Grafana queries, `make run`'s local Prometheus), from Debian's
#      `prometheus` package;
#   4. Node.js + npm and `npm ci` for every test oracle under tests/oracles/ that has a package-lock.json;
#   5. curl and jq (the README's quickstart, which a test runs).
#
# Idempotent: each step checks first and only acts when something is missing, and says what it found or did. Where
# it cannot act (not root, not Debian, RabbitMQ not on this machine), it prints the one command to run instead and
# exits non-zero, so `make test` stops here with that command rather than failing a dozen tests later.
#
#   deploy/prereqs.sh            # check and install
#   PREREQS_SKIP_SYNC=1 ...      # everything but `uv sync` (when the caller syncs itself)
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
missing=()   # one command per thing we could not do ourselves

say() { printf 'prereqs: %s\n' "$*"; }
is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=0
apt_install() {  # apt_install PACKAGE... (root on Debian only)
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    apt-get update -qq >/dev/null || return 1
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Install Debian packages when we can, else record the command for the user. $1: what for; rest: packages.
need_packages() {
  local why=$1
  shift
  if is_root && is_debian; then
    apt_install "$@" && return 0
    missing+=("apt-get install -y $*    # $why (the install above failed)")
  elif is_debian; then
    missing+=("sudo apt-get install -y $*    # $why")
  else
    missing+=("install $* with your package manager (e.g. brew install $*)    # $why")
  fi
  return 1
}

# --- 1. uv and the locked workspace ------------------------------------------------------------------------------
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  UV=("$PYTHON" -m uv)
  if ! "${UV[@]}" --version >/dev/null 2>&1; then
    say "installing uv with pip"
    "$PYTHON" -m pip install --quiet uv || missing+=("$PYTHON -m pip install uv")
  fi
fi
# The interpreter of the workspace: the distribution's python3 when it is recent enough and whole (ensurepip, which
# the bench's Celery peer needs for its own virtual environment). Debian's is linked statically and built with
# profile-guided optimisation, like the one in Herald's images; a pyenv build such as this machine kind's default
# `python3` is neither, and runs Herald's code 10-16% slower (docs/performance.md). UV_PYTHON chooses another.
if [ -z "${UV_PYTHON:-}" ] && [ -x /usr/bin/python3 ] &&
  /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  export UV_PYTHON=/usr/bin/python3
fi
if [ -z "${PREREQS_SKIP_SYNC:-}" ] && "${UV[@]}" --version >/dev/null 2>&1; then
  say "uv sync --frozen ($("${UV[@]}" --version); interpreter ${UV_PYTHON:-uv picks it})"
  "${UV[@]}" sync --frozen --quiet || missing+=("${UV[*]} sync --frozen    # the locked workspace")
fi

# --- 2. RabbitMQ plugins -------------------------------------------------------------------------------------------
# Both plugins answer over HTTP once enabled, so a running broker is checked without its CLI (which needs root's
# Erlang cookie); only when one is missing do we enable them, which needs no restart and is idempotent.
PLUGINS=(rabbitmq_management rabbitmq_prometheus)
mgmt_port=${HERALD_TEST_RABBIT_MGMT_PORT:-15672}
plugins_answer() {
  curl -fsS -o /dev/null --max-time 5 -u guest:guest "http://127.0.0.1:${mgmt_port}/api/overview" 2>/dev/null &&
    curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:15692/metrics" 2>/dev/null
}
for tool in curl jq; do  # the README's curl quickstart uses both, and tests/docs runs it
  command -v "$tool" >/dev/null 2>&1 || need_packages "$tool: the README quickstart (tests/docs runs it)" "$tool"
done
if plugins_answer; then
  say "RabbitMQ plugins answer: ${PLUGINS[*]}"
elif command -v rabbitmq-plugins >/dev/null 2>&1 && is_root; then
  say "enabling RabbitMQ plugins: ${PLUGINS[*]}"
  if rabbitmq-plugins enable --quiet "${PLUGINS[@]}" >/dev/null; then
    # The listeners come up a moment after the plugins are enabled.
    for _ in $(seq 1 30); do plugins_answer && break; sleep 1; done
    plugins_answer || missing+=("rabbitmq-plugins enable ${PLUGINS[*]}    # enabled, but :${mgmt_port}/:15692 do not answer")
  else
    missing+=("rabbitmq-plugins enable ${PLUGINS[*]}    # test vhosts, herald parked, queue metrics")
  fi
elif command -v rabbitmq-plugins >/dev/null 2>&1; then
  missing+=("sudo rabbitmq-plugins enable ${PLUGINS[*]}    # test vhosts, herald parked, queue metrics")
else
  missing+=("rabbitmq-plugins enable ${PLUGINS[*]}    # on the RabbitMQ node the tests use")
fi

# --- 3. promtool and prometheus ------------------------------------------------------------------------------------
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  say "promtool and prometheus present ($(promtool --version 2>&1 | head -1))"
else
  need_packages "promtool and prometheus: alert-rule tests and make run's local Prometheus" prometheus &&
    say "installed $(promtool --version 2>&1 | head -1)"
  # Debian's package starts a system Prometheus on :9090; Herald's tests and `make run` start their own.
  if is_root && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

# --- 4. Node test oracles ------------------------------------------------------------------------------------------
for lock in tests/oracles/*/package-lock.json; do
  [ -e "$lock" ] || continue
  dir=$(dirname "$lock")
  if ! command -v npm >/dev/null 2>&1; then
    need_packages "Node.js for the test oracle in $dir" nodejs npm || continue
  fi
  if [ -d "$dir/node_modules" ]; then
    say "$dir: node_modules present"
  else
    say "npm ci --prefix $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null ||
      missing+=("npm ci --prefix $dir    # the test oracle's locked packages")
  fi
done

if [ ${#missing[@]} != 0 ]; then
  say "could not do everything; run this, then try again:"
  for m in "${missing[@]}"; do printf '    %s\n' "$m"; done
  exit 1
fi
say "ready"
