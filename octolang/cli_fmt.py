"""`octoc fmt`: write files in the canonical layout (octolang/syntax/format.py), or with
--check only say which are not."""

from __future__ import annotations

import difflib
import os
import sys

import click

from octolang.cli_base import EXIT_ERRORS, EXIT_OK, main


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="FILE_OR_FOLDER...", type=click.Path())
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; list the files not in the layout and exit 1 if any (e.g. in CI: octoc fmt --check examples).",
)
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print what would change as a unified diff.")
def fmt(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Lay out .octo files in the one canonical way: FILEs, and the .octo files below each
    FOLDER; `-` reads stdin and writes the result to stdout. Comments, blank lines between
    items and every string are kept. Example: octoc fmt examples/"""
    from octolang.compiler import read_source
    from octolang.diagnostics import Diagnostic, render_all
    from octolang.source import SourceFile
    from octolang.syntax.format import FormatError, format_source

    failed = unformatted = False
    for path in _expand(paths):
        if path == "-":
            source: SourceFile | Diagnostic = SourceFile("<stdin>", sys.stdin.read().replace("\r\n", "\n"))
        else:
            source = read_source(path)
        if isinstance(source, Diagnostic):
            click.echo(render_all([source], {}), err=True)
            failed = True
            continue
        try:
            formatted = format_source(source)
        except FormatError as exc:
            click.echo(render_all(exc.diagnostics, {source.path: source}), err=True)
            click.echo(f"{source.path}: not formatted", err=True)
            failed = True
            continue
        if path == "-" and not (check or show_diff):
            click.echo(formatted, nl=False)
            continue
        if formatted == source.text and not _has_carriage_returns(path):
            continue
        unformatted = True
        if show_diff:
            lines = difflib.unified_diff(
                source.text.splitlines(keepends=True), formatted.splitlines(keepends=True), path, path
            )
            click.echo("".join(lines), nl=False)
        elif check:
            click.echo(f"would reformat {path}", err=True)
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(formatted)
            click.echo(f"reformatted {path}", err=True)
    if failed or ((check or show_diff) and unformatted):
        sys.exit(EXIT_ERRORS)
    sys.exit(EXIT_OK)


def _expand(paths: tuple[str, ...]) -> list[str]:
    """Files as given; folders become their .octo files (sorted, hidden folders skipped)."""
    files: list[str] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            found = []
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
                found += [os.path.join(folder, n) for n in names if n.endswith(".octo")]
            files += sorted(found)
        else:
            files.append(path)
    return files


def _has_carriage_returns(path: str) -> bool:
    """Windows line ends are read as `\\n`, so the text alone cannot tell they are there."""
    if path == "-":
        return False
    try:
        with open(path, "rb") as handle:
            return b"\r" in handle.read()
    except OSError:
        return False
