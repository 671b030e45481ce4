"""The object store of the local topology: SeaweedFS started by the local starter as ``make run`` starts it, its data
under the run's state directory, and every service handed ``HERALD_OBJECTSTORE_*`` that reach it."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.objectstore import ObjectStore, objectstore_settings_from_env
from herald.operator import seaweedfs
from herald.operator.local import Ports, topology, write_key_ring
from herald.operator.local_starter import LocalStarter
from herald.operator.seaweedfs import ACCESS_KEY_ENV, SECRET_KEY_ENV, SeaweedPorts

SERVICES = {"tokens", "scheduler", "audit", "publisher-x", "publisher-linkedin", "publisher-meta"}


def test_every_service_gets_the_object_store_and_only_the_store_gets_its_identity(tmp_path: Path) -> None:
    entries = {p.name: p for p in topology(tmp_path / "keys.json")}
    store = entries["objectstore"]
    assert store.module == "herald.operator.seaweedfs"
    assert (store.port, store.ready_path, store.binds_itself) == (8333, "/healthz", True)
    assert store.args[:2] == ("--data-dir", str(tmp_path / "objectstore"))
    secret = store.env[SECRET_KEY_ENV]
    assert secret not in " ".join(store.args)  # the secret is not on a command line (ps shows those)
    for name in SERVICES:
        settings = objectstore_settings_from_env(entries[name].env)
        assert settings.endpoint_url == "http://127.0.0.1:8333"
        assert (settings.access_key_id, settings.secret_access_key) == (store.env[ACCESS_KEY_ENV], secret)
        assert settings.bucket == "herald-media"
    assert SERVICES | {"objectstore"} <= set(entries)
    other_run = {p.name: p for p in topology(tmp_path / "keys.json")}
    assert other_run["objectstore"].env[SECRET_KEY_ENV] != secret  # a fresh identity per run


async def test_the_started_object_store_serves_what_the_services_are_told(tmp_path: Path) -> None:
    starter = LocalStarter(logs=tmp_path / "logs", cwd=tmp_path)
    (tmp_path / "logs").mkdir()
    ports = Ports(objectstore=SeaweedPorts.free())
    entries = {p.name: p for p in topology(write_key_ring(tmp_path / "keys.json", "t"), ports, state_dir=tmp_path)}
    starter.add(entries["objectstore"])
    try:
        starter.start_all()
        await starter.wait_ready(within=60)
        async with ObjectStore(objectstore_settings_from_env(entries["publisher-meta"].env)) as store:
            await store.ensure_bucket()
            await store.put("teams/t/media/m", b"bytes", "image/png")
            assert await store.get_range("teams/t/media/m", 0, 4) == b"bytes"
        assert (tmp_path / "objectstore" / "master.toml").is_file()
        assert any((tmp_path / "objectstore").glob("*.dat"))  # the bytes live under the state directory
        assert starter.terminate("objectstore", timeout=20) == 0  # SIGTERM reaches SeaweedFS itself: a clean exit
    finally:
        starter.stop()


@pytest.mark.fast
def test_reserved_object_store_ports_are_distinct_and_free() -> None:
    starter = LocalStarter()
    try:
        ports = starter.reserve_ports()
    finally:
        starter.stop()  # closes the sockets it held
    chosen = list(ports.objectstore.__dict__.values())
    assert len(set(chosen)) == len(chosen) == 8
    assert not set(chosen) & {ports.scheduler, ports.tokens, ports.audit, *ports.publishers.values()}


@pytest.mark.fast
def test_the_seaweedfs_entry_point_refuses_to_start_without_an_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ACCESS_KEY_ENV, raising=False)
    monkeypatch.setenv(SECRET_KEY_ENV, "s")
    with pytest.raises(SystemExit):
        seaweedfs.main(["--data-dir", str(tmp_path / "data")])
    assert ACCESS_KEY_ENV in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


@pytest.mark.fast
def test_the_identity_file_is_private_and_the_command_line_names_every_port(tmp_path: Path) -> None:
    identities = seaweedfs.prepare(tmp_path, "access", "very-secret")
    assert identities.stat().st_mode & 0o777 == 0o600
    assert "very-secret" in identities.read_text()
    ports = SeaweedPorts.free()
    argv = seaweedfs.command(tmp_path, ports, identities, s3_bind="0.0.0.0")
    assert Path(argv[0]).name == "weed"
    assert Path(argv[0]).is_file()
    assert "very-secret" not in " ".join(argv)
    for port in ports.__dict__.values():
        assert any(arg.endswith(f"={port}") for arg in argv), port
    assert "-s3.ip.bind=0.0.0.0" in argv
    assert "-ip.bind=127.0.0.1" in argv  # master, volume and filer stay on the loopback
