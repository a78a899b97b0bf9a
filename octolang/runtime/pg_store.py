"""The run state in PostgreSQL: the same tables, statements and guarantees as the SQLite
store (`store.py`), for runs that must outlive one machine.

A database holds many runs. Each run is one schema (`run_` and a digest of its id) with the
tables of `store._SCHEMA`; the schema `octolang` holds the catalogue of runs, each run's
lease (`pg_lease.py`) and the functions SQLite has that PostgreSQL lacks. A new run's schema
and tables are made first; its catalogue row comes with its first meta, in one transaction:
a kill leaves a whole run or a schema no run names (as SQLite's `.new-*` folders). A
connection's search path is its run's schema, then `octolang`, so the codebase's statements
name tables as they do in SQLite; `pg_dialect.translate` rewrites what PostgreSQL says
differently.

Where SQLite locks the run folder, a writer here holds the run's lease: every write
transaction first locks the lease row (FOR SHARE) and checks that this process still holds
it, so a writer whose lease was taken over writes nothing more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from octolang.runtime import pg_dialect
from octolang.runtime.store import _SCHEMA, RunStore, StateUnusable, StoreError

CATALOGUE_VERSION = 1  # raised when the catalogue or the functions change: they are made again
CATALOGUE_SQL = """
CREATE TABLE IF NOT EXISTS octolang.runs (
    id TEXT COLLATE "C" PRIMARY KEY, schema_name TEXT NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS octolang.leases (
    run_id TEXT COLLATE "C" PRIMARY KEY, token TEXT, holder TEXT, expires_at DOUBLE PRECISION, cancel_request TEXT);
CREATE TABLE IF NOT EXISTS octolang.version (version INTEGER NOT NULL)
"""
_SETUP_LOCK = 0x6F63746F  # the advisory lock that serialises making the catalogue ("octo")
NOW = "extract(epoch from clock_timestamp())"  # the database's clock: one clock for every machine


def locator(url: str, run_id: str) -> str:
    """Where a run's state is: the database's URL and the run's id (as `RunInfo.state_path`)."""
    return f"{url}#run={quote(run_id, safe='')}"


def split_locator(state: str) -> tuple[str, str]:
    url, _, fragment = state.partition("#run=")
    return url, unquote(fragment)


def schema_of(run_id: str) -> str:
    return "run_" + hashlib.sha256(run_id.encode()).hexdigest()[:24]


def shown(url: str) -> str:
    """The database without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{host}{port}{parts.path}"


def connect(url: str, *, search_path: str | None = None) -> Any:
    """A connection in autocommit (transactions are begun explicitly), numbers as SQLite
    gives them (an integral NUMERIC, as SUM makes, is an int)."""
    import psycopg
    from psycopg.types.numeric import NumericLoader

    class _SqliteNumbers(NumericLoader):
        def load(self, data: Any) -> Any:
            value = super().load(data)
            if isinstance(value, Decimal) and value == value.to_integral_value():
                return int(value)
            return float(value) if isinstance(value, Decimal) else value

    try:
        db = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="octoc")
    except psycopg.Error as exc:
        raise StateUnusable(f"cannot reach the PostgreSQL state at {shown(url)}: {_first_line(exc)}") from exc
    db.adapters.register_loader("numeric", _SqliteNumbers)
    if search_path is not None:
        db.execute(f'SET search_path TO "{search_path}", octolang')
    return db


def ensure_catalogue(db: Any) -> None:
    """The schema `octolang` (catalogue, leases, SQLite's functions), made once per database
    (and again by a newer octoc whose functions changed)."""
    if _catalogue_version(db) == CATALOGUE_VERSION:
        return
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
        if _catalogue_version(db) == CATALOGUE_VERSION:
            return
        db.execute("CREATE SCHEMA IF NOT EXISTS octolang")
        for statement in pg_dialect.split_script(CATALOGUE_SQL + ";" + pg_dialect.COMPAT_SQL):
            db.execute(statement)
        db.execute("DELETE FROM octolang.version")
        db.execute("INSERT INTO octolang.version VALUES (%s)", (CATALOGUE_VERSION,))


def _catalogue_version(db: Any) -> int | None:
    if db.execute("SELECT to_regclass('octolang.version')").fetchone()[0] is None:
        return None
    row = db.execute("SELECT MAX(version) FROM octolang.version").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _Transaction:
    """What `PgRunStore.transaction` yields: the calls the codebase makes on a sqlite3
    connection in a transaction (`execute`, `executemany`, `total_changes`)."""

    def __init__(self, store: PgRunStore) -> None:
        self.store = store
        self.total_changes = 0

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Any:
        cursor = self.store._run(sql, args)
        self.total_changes += max(cursor.rowcount, 0)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> Any:
        cursor = self.store.db.cursor()
        cursor.executemany(self.store._sql(sql, True), [tuple(r) for r in rows])
        self.total_changes += max(cursor.rowcount, 0)
        return cursor


class PgRunStore(RunStore):
    """A run's state in PostgreSQL (`locator` gives the database and the run). A writer is
    made by `pg_lease.take` (it holds the run's lease); `reader` reads, writes nothing."""

    def __init__(self, state: str, *, lease_token: str | None = None, create: bool = False) -> None:
        self.path = state
        self.inode = None
        self.url, self.run_id = split_locator(state)
        self.schema = schema_of(self.run_id)
        self.lease_token = lease_token
        self.on_close: Callable[[], None] | None = None  # gives the lease back (pg_lease.py)
        self.waited: dict[str, Any] | None = None  # the live lease this writer waited for (pg_lease.py)
        self._uncatalogued = create
        self._translated: dict[tuple[str, bool], str] = {}
        self._keys: dict[str, tuple[list[str], list[str]]] = {}
        self.db = connect(self.url)
        try:
            ensure_catalogue(self.db)
            if create:
                self._create()
            elif not self._exists():
                raise StateUnusable(f"no run `{self.run_id}` in the PostgreSQL state at {shown(self.url)}")
            self.db.execute(f'SET search_path TO "{self.schema}", octolang')
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def reader(cls, path: str) -> RunStore:
        store = cls(path)
        store.db.execute("SET default_transaction_read_only = on")
        return store

    def _exists(self) -> bool:
        return bool(self.db.execute("SELECT 1 FROM octolang.runs WHERE id = %s", (self.run_id,)).fetchall())

    def _create(self) -> None:
        """The run's schema and tables; its catalogue row comes with the first transaction."""
        self.db.execute("BEGIN")
        try:
            self.db.execute(f'CREATE SCHEMA "{self.schema}"')
            self.db.execute(f'SET LOCAL search_path TO "{self.schema}", octolang')
            for statement in pg_dialect.split_script(_SCHEMA):
                self.db.execute(self._sql(statement, False))
            self.db.execute("COMMIT")
        except BaseException as exc:
            self.db.execute("ROLLBACK")
            if isinstance(exc, Exception) and "already exists" in str(exc):
                raise StateUnusable(f"a run `{self.run_id}` is already in {shown(self.url)}") from exc
            raise

    def check_present(self) -> None:
        return None  # a schema cannot be moved away under the run; a dropped one fails the next statement

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            if self.on_close is not None:
                self.on_close()

    # ------------------------------------------------------------ statements
    def _sql(self, sql: str, parameters: bool) -> str:
        key = (sql, parameters)
        text = self._translated.get(key)
        if text is None:
            text = self._translated[key] = pg_dialect.translate(sql, self._table_keys, parameters=parameters)
        return text

    def _table_keys(self, table: str) -> tuple[list[str], list[str]]:
        if table not in self._keys:
            columns = [
                r[0]
                for r in self.db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                    "ORDER BY ordinal_position",
                    (self.schema, table),
                ).fetchall()
            ]
            primary = [
                r[0]
                for r in self.db.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                    "ORDER BY array_position(i.indkey, a.attnum)",
                    (f'"{self.schema}".{table}',),
                ).fetchall()
            ]
            self._keys[table] = (columns, primary)
        return self._keys[table]

    def _run(self, sql: str, args: Iterable[Any]) -> Any:
        values = tuple(args)
        if values:
            return self.db.execute(self._sql(sql, True), values)
        return self.db.execute(self._sql(sql, False))

    @contextmanager
    def transaction(self, *, stamp: bool = True) -> Iterator[Any]:
        """One transaction, as SQLite's: a writer's only, with its lease checked first."""
        import psycopg

        try:
            self.db.execute("BEGIN")
            self._check_lease()
            yield _Transaction(self)
            if self._uncatalogued:  # a new run is listed once its first meta is there with it
                self.db.execute(
                    f"INSERT INTO octolang.runs (id, schema_name, created_at) VALUES (%s, %s, {NOW})",
                    (self.run_id, self.schema),
                )
            if stamp:
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES ('writes', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(meta.value AS BIGINT) + 1"
                )
            self.db.execute("COMMIT")
            self._uncatalogued = False
        except psycopg.Error as exc:
            self._rollback()
            raise self._error(exc) from exc
        except BaseException:
            self._rollback()
            raise

    def _check_lease(self) -> None:
        """This process still holds the run's lease, and keeps it until the commit (FOR SHARE
        makes a takeover wait for this transaction)."""
        if self.lease_token is None:
            raise StateUnusable(f"run {self.run_id} is open to read only; nothing was written")
        row = self.db.execute(
            "SELECT token, holder FROM octolang.leases WHERE run_id = %s FOR SHARE", (self.run_id,)
        ).fetchone()
        if row is None or row[0] != self.lease_token:
            from octolang.runtime.leases import describe_holder

            holder = json.loads(row[1]) if row is not None and row[1] else None
            raise StateUnusable(
                f"run {self.run_id} was taken over by another octoc ({describe_holder(holder)}) after this "
                "process's lease expired; this process writes nothing more (what it saved is kept)"
            )

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        except Exception:
            pass

    def _error(self, exc: Exception) -> StoreError:
        import psycopg

        text = _first_line(exc)
        where = f"the PostgreSQL state of run {self.run_id} at {shown(self.url)}"
        if isinstance(exc, psycopg.OperationalError):
            return StateUnusable(f"cannot use {where}: {text}; nothing saved was lost, run again when it is back")
        if isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)):
            return StateUnusable(f"{where} is damaged ({text}); nothing was changed")
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return StateUnusable(f"{where} is open to read only: {text}")
        return StoreError(f"cannot use {where}: {text}")

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        import psycopg

        try:
            cursor = self._run(sql, args)
            return list(cursor.fetchall()) if cursor.description is not None else []
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def stream(self, sql: str, args: Iterable[Any] = (), batch: int = 2000) -> Iterator[Any]:
        """Rows through a server-side cursor on a connection of its own (in one snapshot), so
        that the client holds a batch at a time and the store's own connection stays free."""
        import psycopg

        values = tuple(args)
        db = connect(self.url, search_path=self.schema)
        try:
            with db.transaction():
                cursor = db.cursor(name="octo_stream")
                cursor.execute(self._sql(sql, bool(values)), values if values else None)
                while rows := cursor.fetchmany(batch):
                    yield from rows
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        finally:
            db.close()

    def meta(self) -> dict[str, Any]:
        """The meta; to a reader, its `lease` as the lease table has it: live while unexpired
        (`expires_in` seconds left, by the database's clock), whatever the holder's host. The
        writer reads the meta as it is (its `lease`: the last writer's, if it died holding it)."""
        values = super().meta()
        if self.lease_token is not None:
            return values
        row = self.query(
            f"SELECT holder, expires_at - {NOW} FROM octolang.leases WHERE run_id = ? AND token IS NOT NULL",
            (self.run_id,),
        )
        if row and row[0][0] and row[0][1] > 0:
            values["lease"] = {**json.loads(row[0][0]), "expires_in": float(row[0][1])}
        elif isinstance(values.get("lease"), dict):
            values["lease"] = {**values["lease"], "expires_in": 0.0}
        return values


def list_metas(url: str) -> list[tuple[str, dict[str, Any] | None, str | None]]:
    """Every run in the database, oldest first: (id, meta, or why it cannot be read)."""
    import psycopg

    db = connect(url)
    try:
        ensure_catalogue(db)
        found: list[tuple[str, dict[str, Any] | None, str | None]] = []
        for run_id, schema in db.execute("SELECT id, schema_name FROM octolang.runs ORDER BY created_at, id"):
            try:
                rows = db.execute(f'SELECT key, value FROM "{schema}".meta').fetchall()
                found.append((run_id, {k: json.loads(v) for k, v in rows}, None))
            except psycopg.Error as exc:
                found.append((run_id, None, f"its state in {shown(url)} is damaged: {_first_line(exc)}"))
        return found
    finally:
        db.close()
