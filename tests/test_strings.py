"""String literals: escapes, the dedent of triple-quoted strings, and the map back to the file."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octolang import ir
from octolang.source import SourceFile
from octolang.syntax import parse_program
from octolang.syntax.strings import decode_string


def text_of(raw: str, prefix: str = "") -> tuple[ir.Text, SourceFile]:
    """Decode `raw` as if it sat in a file right after `prefix`; return the Text and the file."""
    source = SourceFile("s.octo", prefix + raw)
    value, anchors, problems = decode_string(raw, len(prefix))
    assert problems == [] or not raw.startswith('"""')
    text = ir.Text(span=source.span(len(prefix), len(prefix) + len(raw)), value=value, anchors=anchors)
    return text, source


# ---------------------------------------------------------------- "..." strings and escapes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r'"plain"', "plain"),
        (r'""', ""),
        (r'"a\nb"', "a\nb"),
        (r'"tab\there"', "tab\there"),
        (r'"cr\r"', "cr\r"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"nul\0"', "nul\x00"),
        (r'"\u00e9t\u00C9"', "\u00e9t\u00c9"),
        (r'"end\\"', "end\\"),
        (r'"{{ unit.name }}"', "{{ unit.name }}"),
    ],
)
def test_short_string_escapes(raw: str, expected: str) -> None:
    value, _, problems = decode_string(raw, 0)
    assert value == expected
    assert problems == []


@pytest.mark.parametrize(
    ("raw", "offset", "message", "kept"),
    [
        (r'"C:\data"', 3, "unknown escape `\\d`", "C:\\data"),
        (r'"a\qb"', 2, "unknown escape `\\q`", "a\\qb"),
        (r'"x\{y"', 2, "unknown escape `\\{`", "x\\{y"),
        (r'"\u12"', 1, "`\\u` must be followed by four hex digits", "\\u12"),
        (r'"\uZZZZ!"', 1, "`\\u` must be followed by four hex digits", "\\uZZZZ!"),
    ],
)
def test_bad_escapes_are_reported_at_the_backslash(raw: str, offset: int, message: str, kept: str) -> None:
    start = 100
    value, _, problems = decode_string(raw, start)
    assert problems == [(start + offset, message)]
    assert raw[offset] == "\\"
    assert value == kept  # the text is kept as written, so checking can continue


def test_two_bad_escapes_give_two_problems() -> None:
    raw = r'"\d and \w"'
    _, _, problems = decode_string(raw, 0)
    assert [p[0] for p in problems] == [1, 8]
    assert all(raw[p[0]] == "\\" for p in problems)


def test_escaped_characters_map_to_their_backslash_and_plain_ones_exactly() -> None:
    raw = r'"a\nb\u00e9c\\d\"e"'
    text, source = text_of(raw, prefix="const X = ")
    assert text.value == 'a\nb\u00e9c\\d"e'
    for i, ch in enumerate(text.value):
        offset = text.file_offset(i)
        if ch in "abcde":
            assert source.text[offset] == ch, i
        else:
            assert source.text[offset] == "\\", i  # an escape starts at its backslash


def test_short_string_span_of_covers_the_escape_sequences() -> None:
    raw = r'"x\u00e9y"'
    text, source = text_of(raw, prefix="pipeline p ")
    span = text.span_of(source, 0, 3)
    assert source.text[span.start : span.end] == r"x\u00e9y"
    span = text.span_of(source, 2, 3)
    assert source.text[span.start : span.end] == "y"


# ---------------------------------------------------------------- """...""" strings: dedent rules


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # rule 1 and 2: an empty first line and a whitespace-only last line are dropped
        ("\n    hello\n      world\n    ", "hello\n  world"),
        # the common indentation ignores blank lines; blank lines in the middle are kept
        ("\n    a\n\n    b\n  ", "a\n\nb"),
        # whitespace-only lines lose at most the common indentation
        ("\n    a\n      \n    b\n", "a\n  \nb"),
        ("\n    a\n  \n    b\n", "a\n\nb"),
        # rule 4: text on the opening line loses its leading whitespace, and does not count for the indent
        ("first\n    second\n      third\n  ", "first\nsecond\n  third"),
        ("   first\n  x\n  ", "first\nx"),
        # one line only
        ("one", "one"),
        ("  padded  ", "padded  "),
        ("", ""),
        # closing quotes after text: the last line is kept (its trailing spaces too)
        ("\n  a\n  b   ", "a\nb   "),
        # a second empty line at the start is content
        ("\n\n  a\n  ", "\na"),
        # tabs count as one column each and are not expanded
        ("\n\tx\n\t\ty\n", "x\n\ty"),
        ("\n\t  x\n\t y\n", " x\ny"),
        ("\n  \tx\n    y\n", "x\n y"),
        # raw: backslashes are kept
        ("\n  a\\n b\n  ", "a\\n b"),
        # no non-blank line: no common indentation, nothing removed
        ("\n   \n", "   "),
    ],
)
def test_long_string_dedent(body: str, expected: str) -> None:
    value, anchors, problems = decode_string('"""' + body + '"""', 0)
    assert value == expected
    assert problems == []
    assert anchors == sorted(anchors)


def test_long_string_keeps_line_numbers_of_its_text() -> None:
    source_text = (
        'pipeline p\nunits u { trials 1 }\nmodel m = mock "m"\nstep s = llm m {\n  prompt """\n'
        '    first {{ unit.trial }}\n      second\n  """\n  output { a: int }\n}\n'
    )
    program, diagnostics = parse_program(SourceFile("t.octo", source_text))
    assert diagnostics == []
    assert program is not None
    prompt = program.steps[0].prompt
    assert prompt is not None
    assert prompt.value == "first {{ unit.trial }}\n  second"
    assert prompt.first_line == 6  # the dropped empty first line is not the text's first line
    span = prompt.span_of(SourceFile("t.octo", source_text), prompt.index_of(2, 3), prompt.index_of(2, 9))
    assert (span.line, span.col, span.end_line, span.end_col) == (7, 7, 7, 13)
    assert source_text[span.start : span.end] == "second"


def test_index_of_lines_and_columns() -> None:
    text, _ = text_of('"""\n  ab\n  cd\n  """')
    assert text.value == "ab\ncd"
    assert text.index_of(1) == 0
    assert text.index_of(2) == 3
    assert text.index_of(2, 2) == 4
    assert text.index_of(9) == len(text.value)


# ---------------------------------------------------------------- the map back to the file, as a property

_CONTENT = st.text(alphabet=st.sampled_from([*"abcxyz019 {}%#\\'.:é漢🐙-", "\t"]), max_size=12)
_INDENT = st.text(alphabet=st.sampled_from([" ", " ", " ", "\t"]), max_size=6)
_LINE = st.tuples(_INDENT, _CONTENT).map(lambda p: p[0] + p[1])


@st.composite
def long_bodies(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(["", "  ", "lead ", " x{{ y }}"]))
    lines = draw(st.lists(_LINE, min_size=0, max_size=8))
    last = draw(st.sampled_from(["", "  ", "    ", "tail", "\t"]))
    return "\n".join([first, *lines, last]) if lines or draw(st.booleans()) else first


def _assert_maps_back(text: ir.Text, source: SourceFile) -> None:
    for i, ch in enumerate(text.value):
        offset = text.file_offset(i)
        assert source.text[offset] == ch, (i, ch, offset)
        span = text.span_of(source, i, i + 1)
        assert (span.start, span.end) == (offset, offset + 1)
        assert source.position(offset) == (span.line, span.col)
    if text.value:
        whole = text.span_of(source, 0, len(text.value))
        assert whole.start == text.file_offset(0)
        assert whole.end == text.file_offset(len(text.value) - 1) + 1


@settings(max_examples=300, deadline=None)
@given(body=long_bodies(), prefix=st.sampled_from(["", "x = ", "line\n  prompt ", "🐙 "]))
def test_every_character_of_a_long_string_maps_to_its_file_offset(body: str, prefix: str) -> None:
    text, source = text_of('"""' + body + '"""', prefix)
    _assert_maps_back(text, source)
    # the value is the body minus what the dedent rules remove: each kept line is a suffix of its line
    kept = text.value.split("\n") if text.value else []
    for line in kept:
        assert line in body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=long_bodies(), indent=st.sampled_from(["", "  ", "\t", "        "]))
def test_prompt_in_a_parsed_file_maps_back(body: str, indent: str) -> None:
    header = 'pipeline p\nunits u { trials 1 }\nmodel m = mock "m"\nstep s = llm m {\n'
    source_text = f'{header}{indent}prompt """{body}"""\n  output {{ a: int }}\n}}\n'
    source = SourceFile("p.octo", source_text)
    program, diagnostics = parse_program(source)
    assert program is not None, diagnostics
    prompt = program.steps[0].prompt
    assert prompt is not None
    _assert_maps_back(prompt, source)


_PIECES = st.sampled_from(
    [
        ("a", "a"),
        ("b", "b"),
        (" ", " "),
        ("é", "é"),
        ("{", "{"),
        ("}", "}"),
        ("n", "n"),
        ("u", "u"),
        ("\\n", "\n"),
        ("\\t", "\t"),
        ('\\"', '"'),
        ("\\\\", "\\"),
        ("\\u00e9", "é"),
        ("\\0", "\x00"),
    ]
)


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=15))
def test_short_strings_map_plain_characters_exactly(pieces: list[tuple[str, str]]) -> None:
    raw = '"' + "".join(written for written, _ in pieces) + '"'
    text, source = text_of(raw, prefix="x = \n")
    assert text.value == "".join(value for _, value in pieces)
    offset = 5 + 1
    for i, (written, _) in enumerate(pieces):
        assert text.file_offset(i) == offset
        assert source.text[offset] == written[0]  # the character itself, or its escape's backslash
        offset += len(written)
