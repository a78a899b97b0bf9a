"""Unit ids and fields: stable, readable, independent of the other units."""

from __future__ import annotations

from pathlib import Path

from octolang.compiler import compile_source
from octolang.runtime.unitset import enumerate_units
from octolang.source import SourceFile


def program(tmp_path: Path, units: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    for name, text in (data or {}).items():
        (tmp_path / name).write_text(text)
    text = f"""pipeline p
{units}
step s = compute {{
  output {{ ok: bool }}
  code "return {{'ok': True}}"
}}
report r {{ n = count() }}
"""
    path = tmp_path / "p.octo"
    path.write_text(text)
    result = compile_source(SourceFile(str(path), text))
    assert result.ok, result.diagnostics
    return result.program


def test_cartesian_product_rows_outermost(tmp_path: Path) -> None:
    p = program(tmp_path, 'units u { rows [ {a: 1}, {a: 2} ] vary c in ["x", "y"] trials 2 }')
    units = list(enumerate_units(p))
    assert [u.id for u in units] == [
        "row=1/c=x/trial=1",
        "row=1/c=x/trial=2",
        "row=1/c=y/trial=1",
        "row=1/c=y/trial=2",
        "row=2/c=x/trial=1",
        "row=2/c=x/trial=2",
        "row=2/c=y/trial=1",
        "row=2/c=y/trial=2",
    ]
    assert units[5].fields == {"a": 2, "c": "x", "trial": 2}
    assert [u.ordinal for u in units] == list(range(8))
    assert p.unit_count == 8


def test_key_column_makes_ids_independent_of_row_order(tmp_path: Path) -> None:
    first = program(tmp_path, 'units u from "d.csv" { key name }', {"d.csv": "name,age\nann,3\nbo,4\n"})
    ids = {u.id: u.fields for u in enumerate_units(first)}
    assert ids == {"name=ann": {"name": "ann", "age": 3}, "name=bo": {"name": "bo", "age": 4}}
    second = program(tmp_path, 'units u from "d.csv" { key name }', {"d.csv": "name,age\ncy,5\nbo,4\nann,3\n"})
    again = {u.id: u.fields for u in enumerate_units(second)}
    assert again["name=ann"] == ids["name=ann"] and again["name=bo"] == ids["name=bo"]


def test_values_are_escaped_in_ids(tmp_path: Path) -> None:
    p = program(tmp_path, 'units u { vary path in ["a/b", "c=d", "50%"] }')
    assert [u.id for u in enumerate_units(p)] == ["path=a%2Fb", "path=c%3Dd", "path=50%25"]


def test_limit_keeps_the_first_units(tmp_path: Path) -> None:
    p = program(tmp_path, "units u { vary k in [1, 2, 3] trials 10 }")
    assert [u.id for u in enumerate_units(p, limit=3)] == ["k=1/trial=1", "k=1/trial=2", "k=1/trial=3"]


def test_single_unit_without_sources(tmp_path: Path) -> None:
    p = program(tmp_path, "units u { }")
    assert [(u.id, u.fields) for u in enumerate_units(p)] == [("unit", {})]
