"""`octoc results`: every unit of a run as one row (JSON lines, CSV or Parquet); see
octolang/runtime/results.py for the columns."""

from __future__ import annotations

import sys

import click

from octolang.cli_base import EXIT_ERRORS, EXIT_USAGE, allow_outside_option, main
from octolang.cli_run import _run_dir, _run_option
from octolang.cli_runs import _open_existing

INSTALL_PYARROW = "writing Parquet needs pyarrow: `pip install 'octolang[parquet]'` (or `pip install pyarrow`)"


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--jsonl", "fmt", flag_value="jsonl", help="One JSON object a line.")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@click.option("--parquet", "fmt", flag_value="parquet", help="Parquet (needs pyarrow, the `parquet` extra; needs -o).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: stdout), e.g. -o units.csv."
)
@_run_option
@_run_dir
@allow_outside_option
def results(
    file: str,
    fmt: str | None,
    output: str | None,
    run_id: str | None,
    run_dir: str | None,
    allow_outside: tuple[str, ...],
) -> None:
    """Export one row per unit of FILE's latest run (or --run ID): fields, outputs, status, cost.
    Example: octoc results examples/qa_eval.octo --csv -o units.csv"""
    if fmt is None:
        click.echo("choose a format: --jsonl, --csv or --parquet", err=True)
        sys.exit(EXIT_USAGE)
    if fmt == "parquet":
        if output is None:
            click.echo("--parquet writes a file: give it with -o FILE.parquet", err=True)
            sys.exit(EXIT_USAGE)
        try:
            import pyarrow  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
        except ImportError:
            click.echo(f"octoc results: {INSTALL_PYARROW}", err=True)
            sys.exit(EXIT_ERRORS)
    from octolang.runtime import results as export

    program, info, store = _open_existing(file, run_dir, run_id, allow_outside)
    try:
        if fmt == "parquet":
            assert output is not None
            count = export.write_parquet(program, store, output)
        else:
            writer = export.write_jsonl if fmt == "jsonl" else export.write_csv
            if output is None:
                count = writer(program, store, sys.stdout)
            else:
                try:
                    with open(output, "w", encoding="utf-8", newline="") as handle:
                        count = writer(program, store, handle)
                except OSError as exc:
                    click.echo(f"octoc results: cannot write {output}: {exc.strerror or exc}", err=True)
                    sys.exit(EXIT_ERRORS)
    finally:
        store.close()
    if output is not None:
        click.echo(f"wrote {count:,} units of run {info.id} to {output}", err=True)
