"""Editor support: the TextMate grammar (run by VS Code's own engine), the Vim syntax and
the VS Code extension manifest, checked against `grammar/octo.lark` so they cannot drift.

The TextMate grammar is tokenized by `tests/textmate/tokenize.js` (vscode-textmate on
vscode-oniguruma from npm), the engine VS Code runs, rather than by a Python imitation:
a regex that Oniguruma reads differently, or a rule the engine drops, shows up here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lark import Lark, Token
from lark.exceptions import LarkError
from lark.lexer import PatternStr

REPO = Path(__file__).resolve().parents[1]
GRAMMAR = REPO / "grammar" / "octo.lark"
TEXTMATE = REPO / "tests" / "textmate"
PROBE = TEXTMATE / "all_keywords.octo"
VSCODE = REPO / "editors" / "vscode"
TM_GRAMMAR = VSCODE / "syntaxes" / "octo.tmLanguage.json"
VIM_SYNTAX = REPO / "editors" / "vim" / "syntax" / "octo.vim"
EXAMPLE_FILES = sorted((REPO / "examples").glob("*.octo"))

# A TextMate "keyword scope": `keyword.*`, or `storage.*`, the conventional scope of
# declaration and type words (`step`, `type`, `list`), as `class`/`def` are in Python.
KEYWORD_SCOPE_PREFIXES = ("keyword.", "storage.")

PYTHON_STANDIN = TEXTMATE / "python-standin.tmLanguage.json"

Tokenized = dict[str, list[list[dict[str, Any]]]]
Tokenizer = Callable[..., Tokenized]


def install_npm_packages(npm: str) -> None:
    """`npm ci` once, under a lock: pytest-xdist workers share the checkout, and a second
    `npm ci` would delete node_modules under a worker that is tokenizing. npm writes
    `node_modules/.package-lock.json` last, so its presence means a finished install."""
    lock_path = (
        Path(tempfile.gettempdir()) / f"octo-textmate-{hashlib.sha256(str(TEXTMATE).encode()).hexdigest()[:12]}.lock"
    )
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (TEXTMATE / "node_modules" / ".package-lock.json").is_file():
            return
        done = subprocess.run(
            [npm, "ci", "--prefix", str(TEXTMATE), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci --prefix {TEXTMATE} failed:\n{done.stdout}{done.stderr}")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def lark_parser() -> Lark:
    """The grammar as the compiler builds it (LALR, contextual lexer, every token kept)."""
    return Lark.open(str(GRAMMAR), parser="lalr", lexer="contextual", keep_all_tokens=True)


@pytest.fixture(scope="session")
def keywords(lark_parser: Lark) -> dict[str, str]:
    """Terminal name -> word, for every string terminal of the grammar that is a word."""
    return {
        t.name: t.pattern.value
        for t in lark_parser.terminals
        if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()
    }


@pytest.fixture(scope="session")
def tokenize() -> Tokenizer:
    """Runs tokenize.js, installing its two npm packages first on a fresh checkout."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            "node/npm are not installed: the TextMate grammar is tested with VS Code's engine, which runs on Node"
        )
    install_npm_packages(npm)

    def run(paths: list[Path], embed: tuple[Path, ...] = ()) -> Tokenized:
        extra = [arg for grammar in embed for arg in ("--embed", str(grammar))]
        done = subprocess.run(
            [node, str(TEXTMATE / "tokenize.js"), *extra, *map(str, paths)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = json.loads(done.stdout)
        assert result["scopeName"] == "source.octo"
        return {Path(f["path"]).name: f["lines"] for f in result["files"]}

    return run


@pytest.fixture(scope="session")
def tokenized(tokenize: Tokenizer) -> Tokenized:
    """Every example and the keyword probe, tokenized in one Node process, with no Python
    grammar installed (the engine must keep the code rule and go on)."""
    return tokenize([*EXAMPLE_FILES, PROBE])


@pytest.fixture(scope="session")
def tokenized_with_python(tokenize: Tokenizer) -> Tokenized:
    """The same, with a stand-in for VS Code's Python grammar embedded in code blocks."""
    return tokenize([*EXAMPLE_FILES, PROBE], embed=(PYTHON_STANDIN,))


# ---------------------------------------------------------------- helpers


def compact_listing(source: str, lines: list[list[dict[str, Any]]]) -> str:
    """One row per token: line:column, text and its scopes without the `source.octo` root
    and the structural `meta.declaration`/`meta.block` wrappers (they change every row and
    say nothing a reader checks)."""
    rows: list[str] = []
    for number, (text, tokens) in enumerate(zip(source.splitlines(), lines, strict=True), start=1):
        rows.append(f"{number:>3} | {text}")
        for token in tokens:
            if not token["text"].strip():
                continue
            scopes = [s for s in token["scopes"][1:] if not s.startswith(("meta.declaration.", "meta.block."))]
            rows.append(f"    {token['start']:>3} {token['text']!r} {' '.join(scopes) or '-'}")
    return "\n".join(rows) + "\n"


def scopes_at(lines: list[list[dict[str, Any]]], line: int, column: int) -> list[str]:
    """Scopes of the TextMate token covering a 1-based line and column (Lark's positions)."""
    for token in lines[line - 1]:
        if token["start"] <= column - 1 < token["end"]:
            return list(token["scopes"])
    raise AssertionError(f"no TextMate token at {line}:{column}")


def word_tokens(parser: Lark, text: str) -> Iterator[Token]:
    """Every keyword or NAME token of a parsed file, as Lark's contextual lexer typed it."""
    for token in parser.parse(text).scan_values(lambda v: isinstance(v, Token)):
        if token.type == "NAME" or str(token).isidentifier():
            yield token


def has_keyword_scope(scopes: list[str]) -> bool:
    return any(s.startswith(KEYWORD_SCOPE_PREFIXES) for s in scopes)


# ---------------------------------------------------------------- TextMate grammar


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_scopes(path: Path, tokenized: Tokenized, snapshot: Any) -> None:
    assert compact_listing(path.read_text(encoding="utf-8"), tokenized[path.name]) == snapshot


def test_probe_uses_every_keyword(lark_parser: Lark, keywords: dict[str, str]) -> None:
    used = {t.type for t in word_tokens(lark_parser, PROBE.read_text(encoding="utf-8"))}
    missing = sorted(keywords[name] for name in set(keywords) - used)
    assert not missing, f"add these grammar keywords to {PROBE.name}: {missing}"


@pytest.mark.parametrize("python", ["no-python", "python"])
@pytest.mark.parametrize("path", [*EXAMPLE_FILES, PROBE], ids=lambda p: p.name)
def test_textmate_agrees_with_lark_on_keywords(
    path: Path, python: str, lark_parser: Lark, keywords: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """Every word Lark lexes as a keyword has a keyword scope, and no name Lark lexes as
    NAME has one (`max(...)` in a report is a function, `max 2` in a gate a keyword);
    with or without a Python grammar, whose rules must not run past a code block."""
    tokenized: Tokenized = request.getfixturevalue("tokenized_with_python" if python == "python" else "tokenized")
    lines = tokenized[path.name]
    wrong: list[str] = []
    for token in word_tokens(lark_parser, path.read_text(encoding="utf-8")):
        assert token.line is not None and token.column is not None
        scopes = scopes_at(lines, token.line, token.column)
        if (token.type in keywords) != has_keyword_scope(scopes):
            kind = "keyword" if token.type in keywords else "name"
            wrong.append(f"{token.line}:{token.column} {kind} {token!s}: {scopes[-1]}")
    assert not wrong, "\n".join(wrong)


def test_embedded_languages(tokenized: Tokenized) -> None:
    """Prompts carry Jinja scopes, code blocks `source.python` (whose grammar is absent
    here: the engine must keep the code rule and resume octo scopes after it)."""
    npc = tokenized["npc_dialogue.octo"]
    jinja = [t for line in npc for t in line if "meta.embedded.expression.jinja.octo" in t["scopes"]]
    assert {t["text"] for t in jinja} >= {"{{", "unit", "name", "}}", "feedback"}
    statement = [t["text"] for line in npc for t in line if "meta.embedded.statement.jinja.octo" in t["scopes"]]
    assert "endif" in statement

    sailor = tokenized["drunken_sailor.octo"]
    code = [t for line in sailor for t in line if "source.python" in t["scopes"]]
    assert any("rng.choice" in t["text"] for t in code)
    report_line = next(line for line in sailor if line and line[0]["text"] == "report")
    assert report_line[0]["scopes"][-1] == "storage.type.report.octo"
    assert not any("source.python" in t["scopes"] for t in report_line)


def test_python_grammar_colours_code_blocks(tokenized_with_python: Tokenized) -> None:
    blackjack = tokenized_with_python["blackjack.octo"]
    scopes = [t["scopes"] for line in blackjack for t in line if t["text"] == "return"]
    assert scopes and all(s[-1] == "keyword.control.flow.python" and "meta.embedded.block.python" in s for s in scopes)
    closing = [
        t for line in blackjack for t in line if t["text"] == '"""' and "string.quoted.triple.code.octo" in t["scopes"]
    ]
    assert [t["scopes"][-1] for t in closing] == [
        "punctuation.definition.string.begin.octo",
        "punctuation.definition.string.end.octo",
    ] * 2


def test_declared_names_and_literals(tokenized: Tokenized) -> None:
    probe = tokenized[PROBE.name]
    by_text: dict[str, set[str]] = {}
    for line in probe:
        for token in line:
            by_text.setdefault(token["text"].strip(), set()).add(token["scopes"][-1])
    assert "entity.name.function.step.octo" in by_text["judge"]
    assert "entity.name.type.octo" in by_text["Verdict"]
    assert "entity.name.model.octo" in by_text["fast"]
    assert "constant.numeric.money.octo" in by_text["2.50"]
    assert "keyword.other.unit.per-million.octo" in by_text["/M"]
    assert "constant.numeric.duration.octo" in by_text["500"]
    assert "support.type.primitive.octo" in by_text["string"]
    assert "keyword.operator.range.octo" in by_text[".."]
    assert "keyword.operator.union.octo" in by_text["|"]
    assert "comment.line.number-sign.octo" in by_text["plain Python"]


# ---------------------------------------------------------------- Vim


def vim_keywords() -> dict[str, set[str]]:
    """`syntax keyword GROUP word...` lines of the Vim syntax file, by group; `contained`
    groups (Jinja's words inside `{% %}`) are not the language's keywords and are left out."""
    groups: dict[str, set[str]] = {}
    for line in VIM_SYNTAX.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*syn(?:tax)?\s+keyword\s+(\w+)\s+(.*)", line)
        if match and "contained" not in match.group(2).split():
            words = {w for w in match.group(2).split() if "=" not in w and w not in {"skipwhite", "skipnl"}}
            groups.setdefault(match.group(1), set()).update(words)
    return groups


def test_vim_lists_the_grammar_keywords(keywords: dict[str, str]) -> None:
    groups = vim_keywords()
    links = dict(re.findall(r"^\s*hi(?:ghlight)?\s+def(?:ault)?\s+link\s+(\w+)\s+(\w+)", VIM_SYNTAX.read_text(), re.M))
    keyword_groups = {
        g
        for g in groups
        if links.get(g) in {"Keyword", "Statement", "Conditional", "Repeat", "Operator", "StorageClass", "Structure"}
    }
    listed = set().union(*(groups[g] for g in keyword_groups))
    assert listed == set(keywords.values())


VIM_KEYWORD_GROUPS = {"octoDeclaration", "octoBlockKeyword", "octoControl", "octoOperatorWord"}


@pytest.mark.parametrize("path", [*EXAMPLE_FILES, PROBE], ids=lambda p: p.name)
def test_vim_highlights_keywords_in_place(
    path: Path, lark_parser: Lark, keywords: dict[str, str], tmp_path: Path
) -> None:
    """Vim itself, headless, reports the syntax group at every keyword Lark lexes: the
    regions (strings, templates, Python code) must close where they should for that."""
    vim = shutil.which("vim")
    if vim is None:
        pytest.skip("vim is not installed: the Vim syntax file is then only checked as text")
    positions = [
        (t.line, t.column, str(t))
        for t in word_tokens(lark_parser, path.read_text(encoding="utf-8"))
        if t.type in keywords
    ]
    out = tmp_path / "groups.txt"
    script = tmp_path / "probe.vim"
    script.write_text(
        "\n".join(
            [
                f"set runtimepath^={REPO / 'editors' / 'vim'}",
                "filetype on",
                "syntax on",
                f"edit {path}",
                "let out = [&filetype]",
                f"for [l, c] in {[[line, column] for line, column, _ in positions]}",
                "  call add(out, synIDattr(synID(l, c, 1), 'name'))",
                "endfor",
                f"call writefile(out, '{out}')",
                "qall!",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    subprocess.run(
        [vim, "-N", "-u", "NONE", "-i", "NONE", "-es", "-S", str(script)], check=False, timeout=60, capture_output=True
    )
    filetype, *groups = out.read_text(encoding="utf-8").splitlines()
    assert filetype == "octo"
    wrong = [
        f"{line}:{column} {word}: {group or '-'}"
        for (line, column, word), group in zip(positions, groups, strict=True)
        if group not in VIM_KEYWORD_GROUPS
    ]
    assert not wrong, "\n".join(wrong)


def test_vim_ftdetect() -> None:
    text = (REPO / "editors" / "vim" / "ftdetect" / "octo.vim").read_text(encoding="utf-8")
    assert re.search(r"\*\.octo\b.*filetype=octo|\*\.octo\b.*setfiletype octo", text)


# ---------------------------------------------------------------- VS Code extension


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_extension_manifest_is_consistent() -> None:
    manifest = load_json(VSCODE / "package.json")
    contributes = manifest["contributes"]
    (language,) = contributes["languages"]
    assert language["id"] == "octo" and language["extensions"] == [".octo"]
    (grammar,) = contributes["grammars"]
    assert grammar["language"] == "octo"
    assert (VSCODE / grammar["path"]).resolve() == TM_GRAMMAR
    assert grammar["scopeName"] == load_json(TM_GRAMMAR)["scopeName"] == "source.octo"
    assert load_json(VSCODE / language["configuration"])["comments"]["lineComment"] == "#"
    (snippets,) = contributes["snippets"]
    assert snippets["language"] == "octo" and (VSCODE / snippets["path"]).is_file()
    assert (VSCODE / manifest["main"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    assert "@vscode/vsce" in manifest["devDependencies"]
    for name in ("README.md", ".vscodeignore", "LICENSE", "package-lock.json"):
        assert (VSCODE / name).is_file(), name


def test_every_command_is_contributed_and_registered() -> None:
    manifest = load_json(VSCODE / "package.json")
    client = (VSCODE / "extension.js").read_text(encoding="utf-8")
    contributed = {c["command"] for c in manifest["contributes"]["commands"]}
    registered = set(re.findall(r"registerCommand\('([\w.]+)'", client))
    assert contributed == registered == {"octo.restartServer", "octo.check", "octo.graph"}
    for command in ("octo.check", "octo.graph"):
        assert f"onCommand:{command}" in manifest["activationEvents"]
    runs = re.findall(r"runOctoc\(\[\s*'(\w+)'", client)
    assert sorted(set(runs)) == ["check", "graph"]


def test_the_install_message_works_while_octolang_is_unpublished() -> None:
    """No `pip install octolang` (there is no such package on an index yet): the extension
    and its README say to build the wheel and install that, as docs/install.md does."""
    client = (VSCODE / "extension.js").read_text(encoding="utf-8")
    declared = re.search(r"const INSTALL_HINT =(.*?);\n", client, re.DOTALL)
    assert declared is not None
    hint = "".join(re.findall(r"'((?:[^'\\]|\\.)*)'", declared.group(1))).replace("\\'", "'")
    assert "pip install octolang" not in hint
    assert "python3 -m build" in hint and "pip install dist/octolang-0.1.0-py3-none-any.whl" in hint
    assert client.count("${INSTALL_HINT}") == 2  # the server that cannot start, a command that cannot run
    readme = (VSCODE / "README.md").read_text(encoding="utf-8")
    installing = readme.split("## Installing octoc", 1)[1].split("\n## ", 1)[0]
    assert "python3 -m build" in installing and "dist/octolang-0.1.0-py3-none-any.whl" in installing
    assert "pypi.org/project/octolang" not in readme
    assert (REPO / "docs" / "install.md").is_file()


def test_vsce_packs_what_the_extension_needs() -> None:
    """`vsce ls`, the packager's own list of the .vsix's files (needs `npm ci` in
    editors/vscode, which .ci/run does before the tests)."""
    vsce = VSCODE / "node_modules" / "@vscode" / "vsce" / "vsce"
    if not vsce.is_file():
        if os.environ.get("OCTO_CI"):
            pytest.fail("run `npm ci` in editors/vscode: .ci/run packages the extension")
        pytest.skip("`npm ci` was not run in editors/vscode")
    listed = subprocess.run(
        ["node", str(vsce), "ls"], cwd=VSCODE, capture_output=True, text=True, timeout=300, check=True
    ).stdout.split()
    assert {"package.json", "extension.js", "README.md", "LICENSE", "language-configuration.json"} <= set(listed)
    assert {"syntaxes/octo.tmLanguage.json", "snippets/octo.json"} <= set(listed)
    assert "node_modules/vscode-languageclient/package.json" in listed
    left_out = (".vscode/", "node_modules/@vscode/vsce/", "package-lock.json")
    assert not [name for name in listed if name.startswith(left_out)]


def test_language_configuration_pairs_balance() -> None:
    config = load_json(VSCODE / "language-configuration.json")
    for open_, close in config["brackets"]:
        assert (open_, close) in {("{", "}"), ("[", "]"), ("(", ")"), ("<", ">")}
    closing = {(p["open"], p["close"]) for p in config["autoClosingPairs"]}
    assert {("{", "}"), ("[", "]"), ("(", ")"), ('"', '"')} <= closing
    assert re.compile(config["folding"]["markers"]["start"]).search("  # region settings")


SNIPPET_PLACEHOLDER = re.compile(r"(?<!\\)\$(?:\{\d+:([^}]*)\}|\{\d+\|([^,|]*)[^}]*\|\}|\d+)")


def expand_snippet(body: list[str]) -> str:
    """A snippet as inserted with every placeholder left at its default (`\\$` is a `$`)."""
    text = SNIPPET_PLACEHOLDER.sub(lambda m: m.group(1) or m.group(2) or "", "\n".join(body))
    assert not re.search(r"(?<!\\)\$", text), f"placeholder left, or `$` not escaped: {text}"
    return text.replace("\\$", "$")


def test_snippets_expand_to_valid_syntax(lark_parser: Lark) -> None:
    snippets = load_json(VSCODE / "snippets" / "octo.json")
    prefixes = {s["prefix"] for s in snippets.values()}
    assert {"model", "step-llm", "step-compute", "gate", "report"} <= prefixes
    for name, snippet in snippets.items():
        text = expand_snippet(snippet["body"])
        try:
            lark_parser.parse(text)
        except LarkError as error:
            pytest.fail(f"snippet {name} does not parse:\n{text}\n{error}")
