"""Units: data files read and typed, inline rows, vary and trials, and every way they go wrong."""

from __future__ import annotations

import pytest

from tests.conftest import assert_clean, codes, compile_at, expect

HEAD = 'pipeline p\nmodel m = mock "m"\n'  # lines 1-2; units on line 3
TAIL = 'step a = llm m {\n  prompt "hi"\n  output { x: int }\n}\nreport r { avg = mean(a.x) }\n'

NPCS = "name,role,town\nBrannoc,blacksmith,Emberfall\nYsolde,herbalist,Mirewood\n"


def fields(compilation) -> dict[str, tuple[dict, str]]:
    assert compilation.program is not None
    return {f.name: (f.type, f.origin) for f in compilation.program.unit_fields}


# ---------------------------------------------------------------- fields against the data


def test_unit_field_typo_against_the_csv_header(compile_text) -> None:
    text = (
        HEAD + 'units npcs from "npcs.csv"\nstep a = llm m {\n'
        '  prompt "Hello {{ unit.nmae }} of {{ unit.town }}"\n'
        "  output { x: int }\n}\nreport r { avg = mean(a.x) }\n"
    )
    c = compile_text(text, files={"npcs.csv": NPCS})
    expect(
        c,
        "E0103",
        "unknown field `nmae` on the units",
        (5, 25, 5, 29),
        text="nmae",
        help="did you mean `name`?",
        label="`unit` has `name`, `role`, `town`",
    )
    assert codes(c) == ["E0103"]


def test_unit_field_typo_in_an_expression(compile_text) -> None:
    text = HEAD + 'units npcs from "npcs.csv"\n' + TAIL + "report by_role { group by unit.rloe n = count() }\n"
    c = compile_text(text, files={"npcs.csv": NPCS})
    expect(c, "E0103", "unknown field `rloe` on the units", (9, 32, 9, 36), help="did you mean `role`?")


def test_csv_types_are_inferred_per_column(compile_text) -> None:
    csv_text = "name,age,score,ok,note,mixed\nA,3,1.5,true,x,1\nB,-4,2,FALSE,,b\nC,+5,1e3,True,z,2\n"
    c = compile_text(HEAD + 'units u from "d.csv" { trials 2 }\n' + TAIL, files={"d.csv": csv_text})
    assert_clean(c)
    assert fields(c) == {
        "name": ({"type": "string"}, "column"),
        "age": ({"type": "integer"}, "column"),
        "score": ({"type": "number"}, "column"),
        "ok": ({"type": "boolean"}, "column"),
        "note": ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "column"),
        "mixed": ({"type": "string"}, "column"),
        "trial": ({"type": "integer"}, "trial"),
    }
    assert c.program.unit_count == 6


def test_jsonl_types_are_inferred(compile_text) -> None:
    jsonl = (
        '{"id": "q1", "n": 1, "tags": ["a"], "meta": {"k": 1}, "opt": null, "flag": true}\n'
        "\n"
        '{"id": "q2", "n": 2.5, "tags": [], "meta": {"k": 2}, "opt": "s", "flag": false}\n'
    )
    c = compile_text(
        HEAD + 'units u from "q.jsonl" { key id vary style in ["a", "b"] }\n' + TAIL, files={"q.jsonl": jsonl}
    )
    assert_clean(c)
    assert fields(c) == {
        "id": ({"type": "string"}, "column"),
        "n": ({"type": "number"}, "column"),
        "tags": ({"type": "array", "items": {"type": "string"}}, "column"),
        "meta": ({"type": "object", "properties": {"k": {"type": "integer"}}}, "column"),
        "opt": ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "column"),
        "flag": ({"type": "boolean"}, "column"),
        "style": ({"type": "string"}, "vary"),
    }
    assert c.program.unit_count == 4


def test_jsonl_fields_are_checked_in_templates(compile_text) -> None:
    jsonl = '{"id": "q1", "meta": {"k": 1}, "tags": ["a"]}\n'
    text = (
        HEAD + 'units u from "q.jsonl"\nstep a = llm m {\n  prompt "{{ unit.meta.k }} {{ unit.tags.x }}"\n'
        "  output { x: int }\n}\nreport r { avg = mean(a.x) }\n"
    )
    c = compile_text(text, files={"q.jsonl": jsonl})
    expect(c, "E0404", "`unit.tags` is a list<string> and has no field `x`", (5, 42, 5, 43), text="x")
    assert codes(c) == ["E0404"]


def test_data_paths_are_relative_to_the_octo_file(compile_text) -> None:
    c = compile_text(
        HEAD + 'units u from "data/npcs.csv"\n' + TAIL, path="sub/p.octo", files={"sub/data/npcs.csv": NPCS}
    )
    assert_clean(c)
    assert c.program.unit_count == 2
    assert c.program.units[0].source_path.endswith("sub/data/npcs.csv")


def test_limit_keeps_the_first_rows(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "npcs.csv" { limit 1 }\n' + TAIL, files={"npcs.csv": NPCS})
    assert_clean(c)
    assert c.program.unit_count == 1


def test_inline_rows_vary_and_trials_multiply() -> None:
    c = compile_at(
        HEAD + 'const N = 3\nunits u {\n  rows [ { w: "a", d: 2 }, { w: "b", d: 1.5 }, ]\n'
        "  vary k in range(N)\n  trials 4\n}\n" + TAIL
    )
    assert_clean(c)
    assert c.program.unit_count == 2 * 3 * 4
    assert fields(c) == {
        "w": ({"type": "string"}, "row"),
        "d": ({"type": "number"}, "row"),
        "k": ({"type": "integer"}, "vary"),
        "trial": ({"type": "integer"}, "trial"),
    }
    assert c.program.units[0].vary[0].resolved == [0, 1, 2]


# ---------------------------------------------------------------- data files that cannot be used

BAD_FILES = [
    # (file name, content, code, message)
    ("ragged.csv", "a,b\n1,2\n1,2,3\n", "E0202", "ragged.csv:3: row has 3 values, the header has 2 columns"),
    ("dup.csv", "a,a\n1,2\n", "E0202", "dup.csv:1: column `a` appears twice in the header"),
    (
        "badname.csv",
        "na me,x\n1,2\n",
        "E0202",
        "badname.csv:1: column 1 is named `na me`, which is not a valid field name "
        "(letters, digits and _, not starting with a digit)",
    ),
    ("empty.csv", "", "E0202", "empty.csv:1: the CSV file is empty: it needs a header row naming its columns"),
    ("header.csv", "a,b\n", "E0202", "header.csv holds no rows"),
    ("bin.csv", b"a,b\n\xff\xfe,1\n", "E0202", "bin.csv:2: the file is not UTF-8 text (invalid start byte)"),
    (
        "bad.jsonl",
        '{"id": 1}\n{"id": 2 "x": 3}\n',
        "E0202",
        "bad.jsonl:2: line is not valid JSON: Expecting ',' delimiter (column 10)",
    ),
    ("list.jsonl", '{"id": 1}\n[1, 2]\n', "E0202", "list.jsonl:2: each line must be a JSON object, this one is a list"),
    ("key.jsonl", '{"a b": 1}\n', "E0202", "key.jsonl:1: key `a b` is not a valid field name"),
    ("data.txt", "a\n1\n", "E0202", "unsupported data file `data.txt`: use .csv or .jsonl"),
]


@pytest.mark.parametrize(("name", "content", "code", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_data_file_is_a_diagnostic(compile_text, name: str, content, code: str, message: str) -> None:
    text = HEAD + f'units u from "{name}"\n' + TAIL
    c = compile_text(text, files={name: content})
    expect(c, code, message, (3, 14, 3, 16 + len(name)), text=f'"{name}"')
    assert codes(c) == [code]  # no cascade of unknown fields after it


def test_a_missing_data_file_suggests_a_close_name(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "npc.csv"\n' + TAIL, files={"npcs.csv": NPCS})
    (d,) = c.diagnostics
    assert (d.code, d.span.line, d.span.col, d.span.end_col) == ("E0201", 3, 14, 23)
    assert d.message.startswith("data file not found: ") and d.message.endswith("npc.csv")
    assert d.help == "did you mean `npcs.csv`?"


def test_a_missing_data_file_without_a_close_name(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "zzz/qqq.jsonl"\n' + TAIL, files={})
    (d,) = c.diagnostics
    assert d.code == "E0201"
    assert d.help == "paths are relative to the .octo file"


def test_a_folder_as_data_file(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "folder.csv"\n' + TAIL, files={"folder.csv/x": "a\n"})
    (d,) = c.diagnostics
    assert d.code == "E0202"
    assert "is a folder, not a data file" in d.message


def test_an_unclosed_quote_in_a_csv_is_reported(compile_text) -> None:
    # (csv.reader without strict=True once took the rest of the file into the quoted field, silently)
    c = compile_text(HEAD + 'units u from "q.csv"\n' + TAIL, files={"q.csv": 'name,role\nA,smith\nB,"guard\nC,x\n'})
    expect(c, "E0202", "q.csv:4: malformed CSV: unexpected end of data", (3, 14, 3, 21), text='"q.csv"')
    assert codes(c) == ["E0202"]


# ---------------------------------------------------------------- the units declaration


def test_no_units() -> None:
    c = compile_at(HEAD + TAIL)
    expect(
        c,
        "E0203",
        "the pipeline declares no units",
        (1, 1),
        help='add e.g. `units items from "items.csv"` or `units runs { trials 100 }`',
    )


def test_two_units_declarations() -> None:
    c = compile_at(HEAD + "units u { trials 2 }\nunits v { trials 3 }\n" + TAIL)
    expect(c, "E0203", "a second `units` declaration (`v`)", (4, 7, 4, 8), text="v")


def test_key_problems(compile_text) -> None:
    files = {"d.csv": "name,note\nA,x\nB,\n"}
    c = compile_text(HEAD + 'units u from "d.csv" { key nam }\n' + TAIL, files=files)
    expect(c, "E0204", "key column `nam` is not a field of the rows", (3, 28, 3, 31), help="did you mean `name`?")
    c = compile_text(HEAD + 'units u from "d.csv" { key note }\n' + TAIL, files=files)
    expect(c, "E0204", "key `note` is empty in row 2", (3, 28, 3, 32))
    c = compile_at(HEAD + "units u { rows [ {a: 1}, {a: 1} ] key a }\n" + TAIL)
    expect(c, "E0204", "key `a` repeats `1` (first in row 1) in row 2", (3, 39, 3, 40))
    c = compile_at(HEAD + "units u { key a vary x in [1] }\n" + TAIL)
    expect(c, "E0204", "`key` needs rows to pick a column from", (3, 15, 3, 16))


def test_vary_problems() -> None:
    c = compile_at(
        HEAD + "units u { vary a in 3 vary b in [] vary c in [1, 1] vary d in [[1]] vary e in [x] }\n" + TAIL
    )
    expect(c, "E0205", "`vary a` needs a list of values", (3, 21, 3, 22), help="write e.g. `vary a in [1, 2, 3]`")
    expect(c, "E0205", "`vary b` has no values", (3, 33, 3, 35))
    expect(c, "E0205", "`vary c` lists 1 twice", (3, 46, 3, 52), text="[1, 1]")
    expect(c, "E0205", "`vary d` values must be strings, numbers or booleans, not list", (3, 63, 3, 68))
    expect(c, "E0503", "`vary` values can only use consts and literals, not `x`", (3, 79, 3, 82), text="[x]")


def test_values_that_make_the_same_unit_id_are_duplicates(compile_text) -> None:
    """A unit id holds values as text: 1 and "1" (or true and "True") would be one unit,
    silently merged; both rows, or both values, are named."""
    c = compile_text(
        HEAD + 'units u from "d.jsonl" { key id }\n' + TAIL,
        files={"d.jsonl": '{"id": 1, "w": "a"}\n{"id": 2, "w": "b"}\n{"id": "1", "w": "c"}\n'},
    )
    expect(c, "E0204", "key `id` gives 1 in row 1 and '1' in row 3: both make the unit id `id=1`", (3, 30, 3, 32))
    c = compile_at(HEAD + 'units u { vary x in [1, "1", true, "True"] }\n' + TAIL)
    expect(
        c,
        "E0205",
        "`vary x` lists 1 and '1': both make the unit id `x=1`",
        (3, 21),
        help="keep one of the two values",
    )
    c = compile_at(HEAD + 'units u { vary x in [true, "True"] }\n' + TAIL)
    expect(c, "E0205", "`vary x` lists True and 'True': both make the unit id `x=True`", (3, 21))


def test_vary_name_clashes_with_a_column_and_trials_zero(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "npcs.csv" { vary name in [1] trials 0 }\n' + TAIL, files={"npcs.csv": NPCS})
    expect(c, "E0101", "unit field `name` is defined twice", (3, 32, 3, 36))
    expect(c, "E0206", "`trials` must be at least 1", (3, 44, 3, 52), text="trials 0")


def test_a_column_named_trial_clashes_with_trials(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "t.csv" { trials 2 }\n' + TAIL, files={"t.csv": "trial,x\n1,2\n"})
    expect(c, "E0101", "unit field `trial` is defined twice", (3, 24, 3, 32), text="trials 2")


def test_inline_row_problems() -> None:
    c = compile_at(HEAD + "units u { rows [ {a: 1, a: 2}, {b: 1} ] }\n" + TAIL)
    expect(c, "E0207", "field `a` is given twice in this row", (3, 25, 3, 29), text="a: 2")
    expect(
        c, "E0207", "this row's fields differ from the first row's: missing a; extra b", (3, 32, 3, 38), text="{b: 1}"
    )


def test_rows_and_a_file_together(compile_text) -> None:
    c = compile_text(HEAD + 'units u from "npcs.csv" { rows [ {a: 1} ] }\n' + TAIL, files={"npcs.csv": NPCS})
    expect(c, "E0208", "units take rows from a file or inline `rows`, not both", (3, 34, 3, 40))


def test_huge_static_values_are_refused_not_computed() -> None:
    c = compile_at(HEAD + "units u { vary z in [2 ** 100000] }\n" + TAIL)
    expect(c, "E0503", "`vary` values would take too long to compute", (3, 22, 3, 33), text="2 ** 100000")
