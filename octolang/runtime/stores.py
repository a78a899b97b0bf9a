"""Opening a run's state wherever it is kept: a SQLite file (store.py), or a run in
PostgreSQL (pg_store.py; its writer's lease in pg_lease.py). Callers name the state by
its locator (`RunInfo.state_path`: a file's path or `postgresql://...#run=ID`) and get a
`RunStore` either way. This module sits above both stores, so that neither imports the
other's way of opening."""

from __future__ import annotations

from octolang.runtime import pg_lease
from octolang.runtime.pg_store import PgRunStore
from octolang.runtime.runlock import lease
from octolang.runtime.store import RunStore, is_postgres


def open_reader(path: str) -> RunStore:
    """Open to read only: no lock, no write (a SQLite run works in a read-only folder)."""
    if is_postgres(path):
        return PgRunStore.reader(path)
    return RunStore.reader(path)


def open_writer(path: str) -> RunStore:
    """Open a run that must be there, to write. A PostgreSQL run's lease is taken here
    (raises `pg_lease.LeaseHeld` while another coordinator holds it)."""
    if is_postgres(path):
        return pg_lease.take(path, lease(), wait=False)
    return RunStore.open_existing(path)
