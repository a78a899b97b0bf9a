"""Every diagnostic code the checker can emit is documented, with an example."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_code_is_in_errors_md() -> None:
    emitted = set()
    for path in (ROOT / "octolang").rglob("*.py"):
        emitted |= set(re.findall(r'"([EW]0\d{3})"', path.read_text()))
    documented = set(re.findall(r"^### ([EW]0\d{3})$", (ROOT / "docs" / "errors.md").read_text(), re.MULTILINE))
    assert len(emitted) > 50
    assert emitted <= documented, f"undocumented: {sorted(emitted - documented)}"
