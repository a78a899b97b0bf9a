"""`octoc explain CODE`: the entry of a diagnostic code in docs/errors.md, which the wheel
ships as package data (`octolang/_docs/errors.md`) and a checkout reads in place."""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

import click

from octolang.cli_base import EXIT_ERRORS, main
from octolang.diagnostics import did_you_mean

_HEADING = re.compile(r"^### ([EW]\d{4})$", re.MULTILINE)


def errors_text() -> str:
    packaged = resources.files("octolang").joinpath("_docs/errors.md")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")


def entries(text: str) -> dict[str, str]:
    """Code -> its entry: from its `### CODE` heading to the next heading."""
    found: dict[str, str] = {}
    starts = list(_HEADING.finditer(text))
    for match in starts:
        body_start = match.end()
        following = re.search(r"^#{1,3} ", text[body_start:], re.MULTILINE)
        body_end = body_start + following.start() if following else len(text)
        found[match.group(1)] = f"{match.group(1)}\n{text[body_start:body_end].strip()}\n"
    return found


def _nearest(wanted: str, known: dict[str, str]) -> str:
    """A code one character away (a digit mistyped), the nearest in number first."""
    close = [c for c in known if len(c) == len(wanted) and sum(a != b for a, b in zip(c, wanted, strict=True)) == 1]
    if not close:
        return ""
    number = int(wanted[1:]) if wanted[1:].isdigit() else 0
    best = min(close, key=lambda c: (c[0] != wanted[0], abs(int(c[1:]) - number), c))
    return f"did you mean `{best}`?"


@main.command()
@click.argument("code", metavar="CODE")
def explain(code: str) -> None:
    """Print what a diagnostic code means, with an example and its output.

    CODE is as `octoc check` shows it (case does not matter).
    Example: octoc explain E0103"""
    known = entries(errors_text())
    wanted = code.strip().upper()
    if wanted in known:
        click.echo(known[wanted], nl=False)
        return
    hint = _nearest(wanted, known) or did_you_mean(wanted, known)
    if not hint and re.fullmatch(r"[EW]\d{4}", wanted):
        family = sorted(c for c in known if c[:3] == wanted[:3])
        hint = f"codes of that family: {', '.join(family)}" if family else ""
    click.echo(f"error: no diagnostic code `{code}`" + (f"; {hint}" if hint else ""), err=True)
    click.echo("the codes are listed in docs/errors.md, e.g. `octoc explain E0103`", err=True)
    sys.exit(EXIT_ERRORS)
