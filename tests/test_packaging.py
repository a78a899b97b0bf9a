"""The wheel and the sdist: built with `python -m build` (no network: the build backend
comes from the test extra), accepted by `twine check --strict`, and the wheel alone runs
`octoc` with the grammar, the token table and the prices it ships."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out


def test_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    files = sorted(p.name for p in dist.iterdir())
    assert files == ["octolang-0.1.0-py3-none-any.whl", "octolang-0.1.0.tar.gz"]
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *sorted(str(p) for p in dist.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_wheel_ships_what_octoc_reads(dist: Path) -> None:
    with zipfile.ZipFile(dist / "octolang-0.1.0-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        assert wheel.read("octolang/_grammar/octo.lark") == (REPO / "grammar" / "octo.lark").read_bytes()
        entry_points = wheel.read("octolang-0.1.0.dist-info/entry_points.txt").decode()
    assert {"octolang/_data/o200k_base.tiktoken.gz", "octolang/_data/prices.json"} <= names
    assert {"octolang/view/static/style.css", "octolang/view/templates/run.html"} <= names
    assert "octoc = octolang.cli:main" in entry_points
    assert not [n for n in names if n.startswith(("tests/", "docs/", "editors/"))]


def test_the_sdist_holds_the_source_and_no_local_state(dist: Path) -> None:
    with tarfile.open(dist / "octolang-0.1.0.tar.gz") as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {
        "pyproject.toml",
        "grammar/octo.lark",
        "README.md",
        "octolang/cli.py",
        "examples/npc_dialogue.octo",
    } <= names
    assert not [n for n in names if n.startswith((".octo/", ".ci-venv/", "node_modules/")) or "/.octo/" in n]


def test_the_unpacked_wheel_alone_checks_an_example(dist: Path, tmp_path: Path) -> None:
    """The wheel's files first on the path (not the checkout): `octoc check` finds its grammar,
    token table and prices inside the package."""
    with zipfile.ZipFile(dist / "octolang-0.1.0-py3-none-any.whl") as wheel:
        wheel.extractall(tmp_path / "site")
    work = tmp_path / "work"
    work.mkdir()
    for name in ("npc_dialogue.octo", "npcs.csv"):
        (work / name).write_bytes((EXAMPLES / name).read_bytes())
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import octolang, sys; print(octolang.__file__); sys.argv[0] = 'octoc'; "
            "from octolang.cli import main; main()",
            "check",
            "npc_dialogue.octo",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(str(tmp_path / "site" / "octolang" / "__init__.py"))
    assert "npc_dialogue.octo: ok" in result.stdout
    assert "prices as of" in result.stdout and "tokens: o200k_base" in result.stdout  # the packaged data
