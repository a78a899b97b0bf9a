"""The lowering builds IR nodes without validation (model_construct, for start-up time):
the IR of every example and test pipeline must still validate against its own types."""

from __future__ import annotations

from pathlib import Path

import pytest

from octolang import ir
from octolang.compiler import compile_source, read_source

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "examples").glob("*.octo")) + sorted((ROOT / "tests" / "pipelines").glob("*.octo"))


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_constructed_ir_validates(path: Path) -> None:
    source = read_source(str(path))
    assert not isinstance(source, ir.Node)
    compilation = compile_source(source)  # type: ignore[arg-type]
    assert compilation.ok and compilation.program is not None
    dumped = compilation.program.model_dump(mode="json")
    again = ir.Program.model_validate(dumped)
    assert again.model_dump(mode="json") == dumped
