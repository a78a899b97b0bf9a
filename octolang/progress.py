"""The live progress display of `octoc run` and the table of `octoc status` (rich), and
the progress of a long compute step with the time it has left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class _StepCount:
    total: int | None  # the step's units left when it was first seen (None: not known)
    earlier: int = 0  # units done in earlier pages of units, and the seconds they took
    earlier_seconds: float = 0.0
    page_done: int = 0
    page_seconds: float = 0.0


@dataclass
class ComputeProgress:
    """Where the compute step being run stands, told after each committed slice
    (`RunContext.compute_progress`). A big run reaches the compute stage a page of units at
    a time, so a step's count goes on over pages: `units_left(step)`, asked once per step,
    gives the whole step's count. The time left is the pace so far applied to the units
    left, so it is only said once some units are done."""

    units_left: Callable[[str], int | None] = lambda step: None
    step: str = ""
    told_at: float = 0.0  # when a line was last printed (non-terminal output)
    counts: dict[str, _StepCount] = field(default_factory=dict)

    def update(self, step: str, done: int, ready: int, seconds: float) -> None:
        count = self.counts.get(step)
        if count is None:  # asked after the first slice was committed: its units count too
            left = self.units_left(step)
            count = self.counts[step] = _StepCount(left + done if left is not None else None)
        elif done <= count.page_done:  # a new page of units
            count.earlier += count.page_done
            count.earlier_seconds += count.page_seconds
        count.page_done, count.page_seconds = done, seconds
        if count.total is None or count.total < count.earlier + ready:
            count.total = count.earlier + ready
        self.step = step

    @property
    def done(self) -> int:
        count = self.counts.get(self.step)
        return count.earlier + count.page_done if count is not None else 0

    @property
    def ready(self) -> int:
        count = self.counts.get(self.step)
        return (count.total or 0) if count is not None else 0

    @property
    def seconds(self) -> float:
        count = self.counts.get(self.step)
        return count.earlier_seconds + count.page_seconds if count is not None else 0.0

    @property
    def running(self) -> bool:
        return bool(self.step) and self.done < self.ready

    def seconds_left(self) -> float | None:
        if self.done <= 0 or self.done >= self.ready:
            return None
        return self.seconds / self.done * (self.ready - self.done)

    def line(self) -> str:
        share = self.done / self.ready if self.ready else 1.0
        text = f"compute `{self.step}`: {self.done:,} of {self.ready:,} units ({share:.0%}) in {duration(self.seconds)}"
        left = self.seconds_left()
        return text + (f", about {duration(left)} left" if left is not None else ", done")

    def due(self, every: float) -> bool:
        """Whether a plain-text line is due: at most one per `every` seconds, none for a
        step that ends within its first `every` seconds."""
        now = time.monotonic()
        if self.seconds < every or now - self.told_at < every:
            return False
        self.told_at = now
        return True


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
