"""The live progress display of `octoc run` and the table of `octoc status` (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from octolang.runtime.status import RunStatus


def status_table(status: RunStatus, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("step", "kind", "done", "failed", "in flight", "retries", "tokens in/out", "spend"):
        table.add_column(column, justify="left" if column in ("step", "kind") else "right")
    for step in status.steps:
        tokens = f"{step.input_tokens:,}/{step.output_tokens:,}" if step.kind == "llm" else "-"
        spend = f"${step.spend:.4f}" if step.kind == "llm" else "-"
        table.add_row(
            step.name,
            step.kind,
            f"{step.done:,}",
            f"{step.failed:,}",
            f"{step.in_flight:,}",
            f"{step.retries:,}",
            tokens,
            spend,
        )
    table.caption = (
        f"units: {status.done:,} done, {status.failed:,} failed, {status.skipped:,} skipped, "
        f"{status.pending:,} pending of {status.units:,}; batches in flight: "
        f"{status.batches_in_flight}; spend ${status.spend:.4f}"
    )
    if status.paused:
        table.caption += f"\npaused: {status.paused.get('cause')}"
    table.caption_justify = "left"
    return table


def status_text(status: RunStatus, title: str) -> str:
    """The same table as plain text, for logs and pipes."""
    lines = [title]
    width = max([len(s.name) for s in status.steps] + [4])
    lines.append(f"  {'step':<{width}}  kind      done   failed  in flight  retries  spend")
    for s in status.steps:
        spend = f"${s.spend:.4f}" if s.kind == "llm" else "-"
        lines.append(
            f"  {s.name:<{width}}  {s.kind:<7} {s.done:>6,} {s.failed:>8,} {s.in_flight:>10,} {s.retries:>8,}  {spend}"
        )
    lines.append(
        f"  units: {status.done:,} done, {status.failed:,} failed, {status.skipped:,} skipped, "
        f"{status.pending:,} pending of {status.units:,}; spend ${status.spend:.4f}"
    )
    lines += retried_lines(status, "retried ")
    if status.paused:
        lines.append(f"  paused: {status.paused.get('cause')}")
        lines.append(f"    {status.paused.get('message')}")
    return "\n".join(lines)


def retried_lines(status: RunStatus, prefix: str = "") -> list[str]:
    """Per step, why requests were sent again (nothing for steps that never retried)."""
    lines = []
    for s in status.steps:
        reasons = [f"{n:,} {RETRY_WORDS[r][n != 1]}" for r, n in s.retried.items() if n]
        if reasons:
            lines.append(f"  {prefix}{s.name}: " + ", ".join(reasons))
    return lines


RETRY_WORDS = {  # one, many
    "invalid": ("invalid answer", "invalid answers"),
    "provider_error": ("provider error", "provider errors"),
    "expired": ("expired", "expired"),
    "cancelled": ("cancelled", "cancelled"),
    "gate": ("redone after a gate sent the unit back", "redone after a gate sent the unit back"),
}
