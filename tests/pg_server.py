"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, `initdb` and
`pg_ctl` on a temporary folder, listening on a free loopback port, stopped at the end.

PostgreSQL refuses to run as root; as root (CI containers), the server runs as the user
`postgres` through `runuser`. Outside CI (no OCTO_CI) a machine without the binaries skips
the tests that need it; `.ci/run` installs them, so there a missing server fails.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def binaries() -> str | None:
    """The folder of `initdb` and `pg_ctl` (the newest installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    on_path = shutil.which("pg_ctl")
    return os.path.dirname(on_path) if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running() -> Iterator[str]:
    """A fresh server; yields the URL of its database `postgres` (user `octo`, no password)."""
    folder = binaries()
    if folder is None:
        if os.environ.get("OCTO_CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    assert folder is not None
    root = tempfile.mkdtemp(prefix="octo-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, port = os.path.join(root, "data"), _free_port()
    run = {"check": True, "capture_output": True, "cwd": root}
    subprocess.run(
        _as_owner([f"{folder}/initdb", "-D", data, "-A", "trust", "-U", "octo", "--no-sync", "-E", "UTF8"]), **run
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    log = os.path.join(root, "log")
    subprocess.run(_as_owner([f"{folder}/pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"]), **run)
    try:
        yield f"postgresql://octo@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_owner([f"{folder}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]), **run)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server: str, name: str) -> str:
    """A new, empty database on the server, for one test: its URL."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + "/" + name
