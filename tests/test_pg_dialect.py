"""The SQLite statements of the codebase, as the PostgreSQL store says them (pg_dialect.py):
the rewrites on their own, then every statement the run's state is written and read with,
run on a real PostgreSQL server against the same rows as SQLite, with the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from octolang.runtime import pg_lease, pg_store
from octolang.runtime.pg_dialect import translate
from octolang.runtime.store import RunStore


def keys(table: str) -> tuple[list[str], list[str]]:
    return {
        "meta": (["key", "value"], ["key"]),
        "gates": (["unit_id", "gate", "retries", "passed"], ["unit_id", "gate"]),
        "kept": (["key", "version", "value"], ["key"]),
    }[table]


def test_parameters_become_psycopg_s_and_percent_signs_are_doubled() -> None:
    sql = "SELECT id FROM units WHERE id = ? AND reason LIKE '%?%' AND ordinal > ?"
    assert translate(sql, keys, parameters=True) == (
        "SELECT id FROM units WHERE id = %s AND reason ILIKE '%%?%%' AND ordinal > %s"
    )
    assert translate("SELECT '50%' FROM meta", keys, parameters=False) == "SELECT '50%' FROM meta"


def test_insert_or_ignore_becomes_on_conflict_do_nothing() -> None:
    sql = "INSERT OR IGNORE INTO units (id, ordinal, fields) VALUES (?, ?, ?)"
    assert translate(sql, keys, parameters=False) == (
        "INSERT INTO units (id, ordinal, fields) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    )


def test_insert_or_replace_becomes_an_upsert_of_every_column_but_the_key() -> None:
    assert translate("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, 1)", keys, parameters=False) == (
        "INSERT INTO gates VALUES (?, ?, ?, 1) ON CONFLICT (unit_id, gate) "
        "DO UPDATE SET retries = EXCLUDED.retries, passed = EXCLUDED.passed"
    )
    # a column the statement leaves out goes back to its default, as SQLite's REPLACE does
    assert translate("INSERT OR REPLACE INTO kept (key, value) VALUES ('reports', ?)", keys, parameters=False) == (
        "INSERT INTO kept (key, value) VALUES ('reports', ?) ON CONFLICT (key) "
        "DO UPDATE SET version = DEFAULT, value = EXCLUDED.value"
    )


def test_create_table_gets_postgresql_types_of_sqlites_range_and_byte_order() -> None:
    sql = "CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY, b INTEGER, c REAL, d BLOB) WITHOUT ROWID"
    assert translate(sql, keys, parameters=False) == (
        'CREATE TABLE IF NOT EXISTS t (a TEXT COLLATE "C" PRIMARY KEY, b BIGINT, c DOUBLE PRECISION, d BYTEA)'
    )


# Rows both stores get, and the statements of the codebase that read them with SQLite's own
# functions or typing: each must answer the same on both.
ROWS = [
    "INSERT INTO units (id, ordinal, fields, status) VALUES ('b', 1, '{}', 'done'), ('a', 0, '{}', 'failed'), "
    "('B', 2, '{}', 'pending'), ('a-2', 3, '{}', 'done')",
    "INSERT INTO attempts (unit_id, step, attempt, generation, status, custom_id, request, usage, cost, created_at, "
    "finished_at, problems) VALUES "
    "('a', 's', 1, 1, 'done', 'c1', '{\"prompt\": \"x\"}', '{\"input_tokens\": 12, \"output_tokens\": 3}', "
    "'0.25', 1.5, 2.25, NULL), "
    "('a', 's', 2, 1, 'invalid', 'c2', '{}', '{\"input_tokens\": 7, \"output_tokens\": 1}', '0.125', 3.0, 4.0, "
    "'[1]'), ('b', 't', 1, 1, 'error', 'c3', '{}', NULL, NULL, 5.0, NULL, '{\"kind\": \"x\"}')",
    "INSERT INTO generations (unit_id, step, generation, feedback) VALUES ('a', 's', 2, NULL), ('b', 's', 1, 'f')",
]
QUERIES = [
    (
        "SELECT step, SUM(status IN ('queued', 'submitted')), SUM(attempt > 1), COUNT(*) FROM attempts "
        "GROUP BY step ORDER BY step",
        (),
    ),
    (
        "SELECT unit_id, step, COUNT(*), SUM(json_extract(usage, '$.input_tokens')), "
        "SUM(json_extract(usage, '$.output_tokens')), group_concat(cost, ' ') FROM attempts "
        "GROUP BY unit_id, step ORDER BY unit_id, step",
        (),
    ),
    ("SELECT COUNT(*) FILTER (WHERE status = 'pending'), COUNT(*) FROM units", ()),
    ("SELECT step, SUM(generation) FROM generations GROUP BY step", ()),
    ("SELECT id FROM units ORDER BY id", ()),
    ("SELECT id FROM units WHERE id LIKE ? ORDER BY ordinal LIMIT 5", ("b%",)),
    ("SELECT id, status FROM units WHERE id = ? OR CAST(ordinal AS TEXT) = ?", ("zz", "3")),
    ("SELECT COALESCE(MAX(ordinal) + 1, 0) FROM units", ()),
    ("SELECT SUM(status = 'error' AND problems LIKE '{%') FROM attempts", ()),
    ("SELECT created_at, finished_at FROM attempts ORDER BY custom_id", ()),
    ("SELECT SUM(status = 'nothing') FROM attempts", ()),
]


@pytest.fixture
def both(tmp_path: Path, pg_state: str) -> tuple[RunStore, RunStore]:
    sqlite = RunStore(str(tmp_path / "state.sqlite"))
    postgres = pg_lease.take(pg_store.locator(pg_state, "dialect-1"), {"pid": 1, "host": "h"}, wait=False, create=True)
    for store in (sqlite, postgres):
        with store.transaction() as db:
            store.set_meta(db, run_id="dialect-1")
            for sql in ROWS:
                db.execute(sql)
    yield sqlite, postgres
    sqlite.close()
    postgres.close()


def test_every_statement_answers_the_same_on_both_stores(both: tuple[RunStore, RunStore]) -> None:
    sqlite, postgres = both
    for sql, args in QUERIES:
        assert postgres.query(sql, args) == sqlite.query(sql, args), sql
    assert list(postgres.stream("SELECT id, ordinal FROM units ORDER BY ordinal", batch=2)) == sqlite.query(
        "SELECT id, ordinal FROM units ORDER BY ordinal"
    )


def test_writes_answer_the_same_on_both_stores(both: tuple[RunStore, RunStore]) -> None:
    for store in both:
        with store.transaction() as db:
            db.execute("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, 0)", ("a", 1, 2))
            db.execute("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, 1)", ("a", 1, 3))
            db.execute(
                "INSERT INTO generations (unit_id, step, generation, feedback) VALUES (?, ?, 1, NULL) "
                "ON CONFLICT (unit_id, step) DO UPDATE SET generation = generations.generation + 1",
                ("a", "s"),
            )
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO units (id, ordinal, fields) VALUES (?, ?, ?)", [("a", 9, "{}")])
            assert db.total_changes == before  # the ignored row changed nothing
            db.execute("UPDATE units SET rng = ? WHERE id = ?", (b"\x00\xffstate", "a"))
    sqlite, postgres = both
    read = [
        "SELECT * FROM gates",
        "SELECT * FROM generations ORDER BY unit_id",
        "SELECT id, rng FROM units ORDER BY id",
    ]
    for sql in read:
        assert postgres.query(sql) == sqlite.query(sql), sql
    assert postgres.meta_value("writes") == sqlite.meta_value("writes") == 2
