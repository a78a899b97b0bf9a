"""The run state's SQL, written for SQLite, said to PostgreSQL.

The codebase writes its statements once, in SQLite's dialect (`?` parameters, `INSERT OR
REPLACE`, `INSERT OR IGNORE`, SQLite's column types). A PostgreSQL store passes each one
through `translate` (cached per statement text), which rewrites the few forms PostgreSQL
says differently; the functions SQLite has and PostgreSQL lacks (`json_extract`,
`group_concat`, `SUM` over a comparison) are defined in PostgreSQL instead (`COMPAT_SQL`),
so the statements that use them need no rewriting. Anything else is already the same in
both (`ON CONFLICT ... DO UPDATE`, `COUNT(*) FILTER (WHERE ...)`, `COALESCE`, `CAST`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Columns of a table in order, and those of its primary key: what `INSERT OR REPLACE` needs
# to become an upsert. Read from the database's catalogue, so that tables added later follow.
TableKeys = Callable[[str], tuple[list[str], list[str]]]

_LITERAL = re.compile(r"'(?:[^']|'')*'")
_INSERT = re.compile(
    r"^\s*INSERT\s+OR\s+(?P<verb>REPLACE|IGNORE)\s+INTO\s+(?P<table>\w+)\s*(?:\((?P<cols>[^)]*)\))?",
    re.I | re.S,
)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE", re.I)
_TYPES = {"REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "INTEGER": "BIGINT", "TEXT": 'TEXT COLLATE "C"'}
_TYPE_WORD = re.compile(r"\b(REAL|BLOB|INTEGER|TEXT)\b")


def translate(sql: str, keys: TableKeys, *, parameters: bool) -> str:
    """`sql` in PostgreSQL's dialect, with psycopg's `%s` parameters when `parameters`."""
    sql = sql.strip().rstrip(";")
    if _CREATE_TABLE.match(sql):
        return _create_table(sql)
    sql = _outside_literals(sql, _rewrite_words)
    sql = _rewrite_calls(sql)
    match = _INSERT.match(sql)
    if match:
        sql = _insert(sql, match, keys)
    if parameters:
        sql = _parameters(sql)
    return sql


def _create_table(sql: str) -> str:
    """SQLite's column types, as PostgreSQL's of the same range: REAL is a double (not
    PostgreSQL's 4-byte real), INTEGER 8 bytes, text compared byte by byte (the "C" collation,
    as SQLite compares), so that every ORDER BY gives SQLite's order."""
    sql = re.sub(r"\)\s*WITHOUT\s+ROWID\s*$", ")", sql, flags=re.I)
    return _outside_literals(sql, lambda part: _TYPE_WORD.sub(lambda m: _TYPES[m[1]], part))


def _rewrite_words(part: str) -> str:
    # SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE is its match.
    return re.sub(r"\bLIKE\b", "ILIKE", part)


_CALL = re.compile(r"\b(CAST|MIN|MAX)\s*\(|\bFROM\s*\(", re.I)
_ALIASED = re.compile(r"\s*(AS\b|[A-Za-z_]\w*\s*(?:$|[,)]|WHERE\b|JOIN\b|GROUP\b|ORDER\b|LIMIT\b))", re.I)


def _rewrite_calls(sql: str) -> str:
    """The calls and subqueries SQLite and PostgreSQL read differently, outermost first:
    `CAST(x AS INTEGER)` truncates in SQLite (PostgreSQL rounds); `CAST(json_extract(..) AS
    TEXT)` is a JSON value as text, as SQLite gives it (`json_text`, where `json_extract`
    gives a number); `MIN(a, b)` and `MAX(a, b)`
    are SQLite's scalar forms (PostgreSQL's LEAST and GREATEST); a subquery in FROM needs
    a name in PostgreSQL."""
    masked = _mask_literals(sql)
    start = 0
    named = 0
    while match := _CALL.search(masked, start):
        opening = match.end() - 1
        closing = _matching(masked, opening)
        if closing < 0:
            break
        inner = sql[opening + 1 : closing]
        word = (match[1] or "FROM").upper()
        replacement = None
        text_of = re.fullmatch(r"\s*json_extract\s*\((.*)\)\s+AS\s+TEXT\s*", inner, re.I | re.S)
        if word == "CAST" and text_of:
            replacement = f"octolang.json_text({text_of[1]})"
        elif word == "CAST" and re.search(r"\s+AS\s+INTEGER\s*$", inner, re.I):
            value = re.sub(r"\s+AS\s+INTEGER\s*$", "", inner, flags=re.I)
            replacement = f"CAST(TRUNC(CAST({value} AS NUMERIC)) AS BIGINT)"
        elif word in ("MIN", "MAX") and _top_level_comma(masked[opening + 1 : closing]):
            replacement = f"{'LEAST' if word == 'MIN' else 'GREATEST'}({inner})"
        elif word == "FROM" and not _ALIASED.match(masked, closing + 1):
            named += 1
            replacement = f"FROM ({inner}) AS subquery_{named}"
        if replacement is None:
            start = match.end()
            continue
        sql = sql[: match.start()] + replacement + sql[closing + 1 :]
        masked = _mask_literals(sql)
        start = match.start() + len(replacement.split("(", 1)[0]) + 1
    return sql


def _mask_literals(sql: str) -> str:
    """`sql` with each literal's characters replaced by `_` (same length): parentheses and
    commas inside a literal are not counted."""
    return _LITERAL.sub(lambda m: "'" + "_" * (len(m[0]) - 2) + "'", sql)


def _matching(text: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _top_level_comma(text: str) -> bool:
    depth = 0
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            return True
    return False


def _insert(sql: str, match: re.Match[str], keys: TableKeys) -> str:
    table = match["table"]
    head = f"INSERT INTO {table}" + (f" ({match['cols']})" if match["cols"] is not None else "") + " "
    rest = sql[match.end() :].lstrip()
    if match["verb"].upper() == "IGNORE":
        return f"{head}{rest} ON CONFLICT DO NOTHING"
    columns, primary = keys(table)
    given = [c.strip() for c in match["cols"].split(",")] if match["cols"] is not None else columns
    # SQLite's REPLACE deletes the old row and inserts the new one: a column the statement
    # does not give goes back to its default, as here.
    updates = [f"{c} = EXCLUDED.{c}" if c in given else f"{c} = DEFAULT" for c in columns if c not in primary]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return f"{head}{rest} ON CONFLICT ({', '.join(primary)}) {action}"


def _parameters(sql: str) -> str:
    """`?` outside string literals becomes `%s`; every literal `%` is doubled for psycopg."""
    out, last = [], 0
    for literal in _LITERAL.finditer(sql):
        out.append(sql[last : literal.start()].replace("%", "%%").replace("?", "%s"))
        out.append(literal[0].replace("%", "%%"))
        last = literal.end()
    out.append(sql[last:].replace("%", "%%").replace("?", "%s"))
    return "".join(out)


def _outside_literals(sql: str, change: Callable[[str], str]) -> str:
    out, last = [], 0
    for literal in _LITERAL.finditer(sql):
        out.append(change(sql[last : literal.start()]))
        out.append(literal[0])
        last = literal.end()
    out.append(change(sql[last:]))
    return "".join(out)


def split_script(script: str) -> list[str]:
    """The statements of a script of `CREATE` statements (no `;` inside a literal)."""
    return [s.strip() for s in script.split(";") if s.strip()]


# What SQLite has built in and PostgreSQL lacks, defined once per database in the schema
# `octolang` (on every run's search path). `json_extract` gives a number (what it is summed
# and binned as); `json_text` gives a value as SQLite's `CAST(json_extract(..) AS TEXT)` does
# (a string as it is, true and false as 1 and 0).
COMPAT_SQL = """
CREATE OR REPLACE FUNCTION octolang.json_text(doc TEXT, path TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE jsonb_typeof((doc::jsonb) #> string_to_array(replace(substr(path, 3), '"', ''), '.'))
        WHEN 'boolean' THEN (CASE WHEN ((doc::jsonb) #>> string_to_array(replace(substr(path, 3), '"', ''), '.'))
            = 'true' THEN '1' ELSE '0' END)
        ELSE (doc::jsonb) #>> string_to_array(replace(substr(path, 3), '"', ''), '.') END $$;
CREATE OR REPLACE FUNCTION octolang.instr(haystack TEXT, needle TEXT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS $$ SELECT strpos(haystack, needle)::bigint $$;
CREATE OR REPLACE FUNCTION octolang.json_extract(doc TEXT, path TEXT) RETURNS NUMERIC
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT ((doc::jsonb) #>> string_to_array(replace(substr(path, 3), '"', ''), '.'))::numeric $$;
CREATE OR REPLACE FUNCTION octolang.concat_step(acc TEXT, item TEXT, sep TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE WHEN item IS NULL THEN acc WHEN acc IS NULL THEN item ELSE acc || sep || item END $$;
DROP AGGREGATE IF EXISTS octolang.group_concat(TEXT, TEXT);
CREATE AGGREGATE octolang.group_concat(TEXT, TEXT) (SFUNC = octolang.concat_step, STYPE = TEXT);
CREATE OR REPLACE FUNCTION octolang.count_step(acc BIGINT, item BOOLEAN) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE WHEN item IS NULL THEN acc ELSE COALESCE(acc, 0) + item::int END $$;
DROP AGGREGATE IF EXISTS octolang.sum(BOOLEAN);
CREATE AGGREGATE octolang.sum(BOOLEAN) (SFUNC = octolang.count_step, STYPE = BIGINT)
"""
