"""Finding 6 of issue 10, the policy's part: code could replace or delete names of the
real `math` module (breaking every later run in the process), consts were shared
mutable objects (`SHARED += [x]` made results depend on unit order), and `rng.seed()`,
`rng.setstate()` let a unit reset its own stream."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from octolang.sandbox import SAFE_MODULES, SandboxViolation, UnitRandom, compile_code, freeze
from tests.conftest import compile_at, octoc


def pipeline(code: str, *, consts: str = "const SHARED = [1, 2]", output: str = "v: int") -> str:
    body = "\n".join("    " + line for line in code.strip("\n").splitlines())
    return f'''pipeline state
seed 7
{consts}
units u {{ trials 6 }}
step s = compute {{
  output {{ {output} }}
  code """
{body}
  """
}}
report r {{ m = mean(s.v) }}
'''


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("math.sqrt = abs\nreturn {'v': 1}", "code blocks cannot assign attribute `sqrt`"),
        ("del math.fsum\nreturn {'v': 1}", "code blocks cannot delete attribute `fsum`"),
    ],
)
def test_math_cannot_be_changed_at_check(code: str, message: str) -> None:
    c = compile_at(pipeline(code))
    assert [(d.code, d.message) for d in c.diagnostics if d.is_error] == [("E0610", message)]


def test_math_is_a_private_read_only_copy() -> None:
    private = SAFE_MODULES["math"]
    assert private is not math and private.sqrt(9) == 3.0 and private.pi == math.pi
    with pytest.raises(AttributeError):
        private.sqrt = abs
    with pytest.raises(AttributeError):
        del private.fsum
    with pytest.raises(SandboxViolation):
        compile_code("math.sqrt = abs\nreturn 1", filename="t", first_line=1, params=[], name="s")
    assert math.sqrt(4) == 2.0


def test_shared_consts_do_not_leak_between_units(tmp_path: Path) -> None:
    code = "SHARED += [unit.trial]\nreturn {'v': len(SHARED)}"
    (tmp_path / "shared.octo").write_text(pipeline(code))
    octoc("run", "shared.octo", cwd=tmp_path)
    report = json.loads(octoc("report", "shared.octo", "--json", cwd=tmp_path).stdout)
    [group] = report["reports"][0]["groups"]
    assert group["done"] == 6 and group["statistics"]["m"]["value"] == 3  # every unit saw [1, 2] + its own


def test_frozen_consts_are_read_only_and_compare_as_lists() -> None:
    shared = freeze([1, [2, 3]])
    assert shared == [1, [2, 3]] and json.dumps(shared) == "[1, [2, 3]]"
    with pytest.raises(AttributeError):
        shared.append(4)  # type: ignore[attr-defined]
    local = shared
    local += [4]
    assert shared == [1, [2, 3]] and local == [1, [2, 3], 4]


@pytest.mark.parametrize("call", ["rng.seed(1)", "rng.setstate(s)", "s = rng.getstate()"])
def test_rng_cannot_be_reseeded(call: str) -> None:
    c = compile_at(pipeline(f"s = None\n{call}\nreturn {{'v': 1}}"))
    assert "E0611" in [d.code for d in c.diagnostics]


def test_rng_refuses_at_run_time_too_and_its_stream_is_unchanged() -> None:
    rng = UnitRandom.for_unit(42, "start=2/trial=1")
    for method, args in (("seed", (1,)), ("setstate", (None,)), ("getstate", ())):
        with pytest.raises(AttributeError):
            getattr(rng, method)(*args)
    # the stream of seed 42, unit `start=2/trial=1`, as before the change
    again = UnitRandom.for_unit(42, "start=2/trial=1")
    assert again.random() == 0.5660420049395464
    restored = UnitRandom.from_state(again.state())
    assert restored.random() == again.random()
