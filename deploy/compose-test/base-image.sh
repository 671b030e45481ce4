#!/usr/bin/env bash
# The local base image for every image of the compose test, made offline from Debian's packages: a minimal
# bookworm with python3 (3.11), pip and venv, this machine's extra CA certificates, imported with `docker import`.
#
#   deploy/compose-test/base-image.sh [TAG]      # default herald-local/bookworm-python:3.11
#
# The debootstrapped root filesystem is cached as a tarball outside the repository (HERALD_COMPOSE_CACHE, default
# /var/cache/herald-compose-test), so only the first run on a machine pays for debootstrap. The image works as the
# Dockerfile's PYTHON_IMAGE (`--build-arg PYTHON_IMAGE=herald-local/bookworm-python:3.11`) and as the base of the
# third-party stand-ins in this folder.
set -euo pipefail

TAG=${1:-herald-local/bookworm-python:3.11}
CACHE=${HERALD_COMPOSE_CACHE:-/var/cache/herald-compose-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-pip,python3-venv,ca-certificates,curl
TARBALL="$CACHE/bookworm-python3.tar.gz"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG already present"
  exit 0
fi

mkdir -p "$CACHE"
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
  rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  echo "debootstrap bookworm ($PACKAGES) from $MIRROR"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # Package downloads from inside the images go through this machine's TLS-intercepting egress: trust its CAs.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  # apt inside the stand-in builds uses the same mirror; nothing else of the build host leaks in.
  echo "deb $MIRROR bookworm main" >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
  tar -C "$rootfs" --numeric-owner -czf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
  echo "cached $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

# uv ignores the system store unless told: SSL_CERT_FILE points every client at the bundle with the CAs above.
docker import \
  --change 'ENV LANG=C.UTF-8 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_BREAK_SYSTEM_PACKAGES=1' \
  --change 'CMD ["python3"]' \
  "$TARBALL" "$TAG" >/dev/null
echo "imported $TAG"
