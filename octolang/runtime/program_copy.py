"""The run's own copy of its checked program, kept in its state.

Every `octoc run` that opens a run writes the program it runs with (the IR, as JSON) and
a digest of the file's text. Readers (`status`, `inspect`, `results`, `retry`, and
`report` while the file is unchanged) take the program from there instead of checking
the file again: they neither read the units' data file (seconds for a large CSV) nor
depend on the file still being correct, moved, or there at all. A copy written by
another version of octoc is not used (the IR may have changed): the file is checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from octolang import __version__, ir
from octolang.runtime.store import RunStore

KEY = "program"


@dataclass(frozen=True)
class ProgramCopy:
    program: ir.Program
    source_digest: str  # of the file's text when the run last opened: unchanged means the same program


def source_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def program_record(program: ir.Program, source_text: str | None) -> dict[str, Any]:
    """What a writer keeps under KEY (a meta value)."""
    return {
        "octolang": __version__,
        "source": source_digest(source_text) if source_text is not None else "",
        "ir": program.model_dump(mode="json"),
    }


def program_copy(store: RunStore) -> ProgramCopy | None:
    """The run's copy of its program, if it has one this version can read."""
    value = store.meta_value(KEY)
    if not isinstance(value, dict) or value.get("octolang") != __version__:
        return None
    try:
        program = ir.Program.model_validate(value.get("ir"))
    except ValidationError:
        return None
    return ProgramCopy(program, str(value.get("source") or ""))
