"""Incremental runs: a new run of an edited file takes over, unit by unit, the results of
the steps whose fingerprint and inputs did not change since the latest run of the same
pipeline, and runs only the rest.

The decision for one unit goes down the steps in order (`decide`):

- a step is **reused** when the request part of its fingerprint and the checks part are
  both unchanged, the unit fields it reads have the same values, every step it reads was
  reused (or checked again to the same output), and no gate that sent the unit back to it
  (or to a step before it) changed; its result, attempts and generation are copied;
- it is **checked again** when only the checks part changed (validators, output bounds,
  retries): its stored answers are validated again in order, without a request, until one
  passes; the first that passes is its result, and when none does the runner retries it;
- otherwise it **runs**.

Compute steps that draw from `rng` continue one stream per unit: when one of them runs,
the ones after it run too, and one reused before it hands its saved stream on only when
it is the stream's last carrier. A gate's row is copied when the gate did not change and
its judges were reused. The plan is a pure function of the two programs' fingerprints and
the earlier run's state (and the answer store, whose texts are checked again).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.check.fingerprints import Fingerprints, StepFingerprint
from octolang.runtime.answers import AnswerStore, answer_key, model_identity
from octolang.runtime.store import RunStore

REUSE, CHECK, RUN = "reuse", "check", "run"
PAGE = 500  # units read from the earlier run at a time (one query per table, by id)
_COMPACT = json.JSONEncoder(separators=(",", ":"))


@dataclass
class StepPlan:
    reuse: int = 0
    checked: int = 0  # checked again, kept (no request)
    run: int = 0
    saved: Decimal = Decimal(0)  # what the reused answers cost when they were paid


@dataclass
class ReusePlan:
    from_run: str
    steps: dict[str, StepPlan] = field(default_factory=dict)
    units: int = 0  # units of this run found in the earlier one

    def to_json(self) -> dict[str, Any]:
        return {
            "from_run": self.from_run,
            "units": self.units,
            "steps": {
                k: {"reuse": v.reuse, "checked": v.checked, "run": v.run, "saved": str(v.saved)}
                for k, v in self.steps.items()
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> ReusePlan | None:
        if not isinstance(data, dict) or "from_run" not in data:
            return None
        steps = {
            k: StepPlan(int(v["reuse"]), int(v["checked"]), int(v["run"]), Decimal(v["saved"]))
            for k, v in data.get("steps", {}).items()
        }
        return cls(str(data["from_run"]), steps, int(data.get("units", 0)))

    def run_share(self, step: str) -> float:
        counts = self.steps.get(step)
        if counts is None:
            return 1.0
        total = counts.reuse + counts.checked + counts.run
        return counts.run / total if total else 1.0

    def lines(self) -> list[str]:
        """`reuse line for 6 units`, `check again line for 6 units (no request)`, `run review
        for 6 units`, one per step and verdict, in step order."""
        out = []
        for name, counts in self.steps.items():
            if counts.reuse:
                out.append(f"reuse {name} for {_units(counts.reuse)}")
            if counts.checked:
                out.append(f"check again {name} for {_units(counts.checked)} (stored answers, no request)")
            if counts.run:
                out.append(f"run {name} for {_units(counts.run)}")
        return out


def _units(n: int) -> str:
    return f"{n:,} unit{'' if n == 1 else 's'}"


@dataclass
class OldUnit:
    fields: dict[str, Any]
    rng: bytes | None
    results: dict[str, tuple[str, int]] = field(default_factory=dict)  # step -> (output json, attempt)
    attempts: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # step -> rows, by attempt
    generations: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    gates: dict[int, tuple[int, int]] = field(default_factory=dict)  # index -> (retries, passed)
    reused: dict[tuple[str, int], tuple[str | None, str | None]] = field(default_factory=dict)


_ATTEMPT_COLUMNS = (
    "attempt, generation, status, request, feedback, response, output, problems, kind, usage, cost, "
    "created_at, finished_at"
)


@dataclass
class UnitDecision:
    actions: dict[str, str]
    checked: dict[str, list[tuple[Any, ...]]]  # step -> its attempts as checked again (same columns)
    accepted: dict[str, str]  # step -> output json accepted on the check
    gates: dict[int, tuple[int, int]]  # new gate index -> (retries, passed) copied
    copy_rng: bool


class Planner:
    """Decides, unit by unit, what a new run takes over from `old` (a run's state, read only)."""

    def __init__(
        self,
        program: ir.Program,
        new: Fingerprints,
        old: Fingerprints,
        old_store: RunStore,
        old_gate_targets: list[str | None],
        answers: AnswerStore | None,
        *,
        provider: str | None = None,
        filename: str = "<octo>",
    ) -> None:
        self.program = program
        self.new = new
        self.old = old
        self.old_store = old_store
        self.old_gate_targets = old_gate_targets
        self.answers = answers
        self.provider = provider
        self.filename = filename
        self.order = [s for s in (program.step(n) for n in program.order) if s is not None]
        self.consts = {c.name: c.resolved for c in program.consts}
        self.downstream = {s.name: self.program.dependents(s.name) for s in self.order}
        self.rng_steps = [n for n, fp in new.steps.items() if fp.uses_rng]
        self.old_rng_steps = [n for n, fp in old.steps.items() if fp.uses_rng]
        self._rules: dict[str, Any] = {}

    # ------------------------------------------------------------ reading the old run
    def old_units(self, ids: list[str]) -> dict[str, OldUnit]:
        found: dict[str, OldUnit] = {}
        if not ids:
            return found
        marks = ",".join("?" * len(ids))
        q = self.old_store.query
        for uid, fields, rng in q(f"SELECT id, fields, rng FROM units WHERE id IN ({marks})", ids):
            found[uid] = OldUnit(json.loads(fields), bytes(rng) if rng is not None else None)
        for uid, step, output, attempt in q(
            f"SELECT unit_id, step, output, attempt FROM results WHERE unit_id IN ({marks})", ids
        ):
            found[uid].results[step] = (output, int(attempt))
        for row in q(
            f"SELECT unit_id, step, {_ATTEMPT_COLUMNS} FROM attempts WHERE unit_id IN ({marks}) "
            "AND status IN ('done', 'invalid', 'error') ORDER BY unit_id, step, attempt",
            ids,
        ):
            found[row[0]].attempts.setdefault(row[1], []).append(tuple(row[2:]))
        for uid, step, gen, feedback in q(
            f"SELECT unit_id, step, generation, feedback FROM generations WHERE unit_id IN ({marks})", ids
        ):
            found[uid].generations[step] = (int(gen), feedback)
        for uid, gate, retries, passed in q(
            f"SELECT unit_id, gate, retries, passed FROM gates WHERE unit_id IN ({marks})", ids
        ):
            found[uid].gates[int(gate)] = (int(retries), int(passed))
        try:
            rows = q(f"SELECT unit_id, step, attempt, from_run, saved FROM reused WHERE unit_id IN ({marks})", ids)
        except Exception:  # a run made before runs recorded reuse
            rows = []
        for uid, step, attempt, from_run, saved in rows:
            found[uid].reused[(step, int(attempt))] = (from_run, saved)
        return found

    # ------------------------------------------------------------ one unit
    def decide(self, uid: str, fields: dict[str, Any], old: OldUnit | None) -> UnitDecision:
        forced: set[str] = set()
        for _ in range(len(self.order) + 2):
            decision = self._decide(uid, fields, old, forced)
            more = {n for n in self._forced_by(decision, old) if decision.actions[n] != RUN} - forced
            if not more:
                return decision
            forced |= more
        return decision

    def _decide(self, uid: str, fields: dict[str, Any], old: OldUnit | None, forced: set[str]) -> UnitDecision:
        actions = {s.name: RUN for s in self.order}
        decision = UnitDecision(actions, {}, {}, {}, False)
        if old is None:
            return decision
        same_output: dict[str, bool] = {}
        outputs: dict[str, Any] = {}
        for step in self.order:
            name = step.name
            new_fp, old_fp = self.new.steps[name], self.old.steps.get(name)
            same_output[name] = False
            if name in forced or old_fp is None or old_fp.request != new_fp.request:
                continue
            if any(fields.get(f) != old.fields.get(f) for f in new_fp.unit_fields):
                continue
            if not all(same_output.get(d, False) for d in step.depends_on):
                continue
            if old_fp.checks == new_fp.checks:
                if name in old.results:
                    actions[name] = REUSE
                    same_output[name] = True
                    outputs[name] = json.loads(old.results[name][0])
                continue
            if step.kind != "llm" or old.generations.get(name, (0, None))[0] != 0 or not old.attempts.get(name):
                continue
            rows, accepted = self._check_again(uid, step, new_fp, fields, outputs, old.attempts[name])
            if not rows:
                continue
            actions[name] = CHECK
            decision.checked[name] = rows
            if accepted is not None:
                decision.accepted[name] = accepted
                outputs[name] = json.loads(accepted)
                previous = old.results.get(name)
                same_output[name] = previous is not None and json.loads(previous[0]) == outputs[name]
        for index, gate in enumerate(self.program.gates):
            fp = self.new.gates[index]
            if fp not in self.old.gates or not all(same_output.get(j, False) for j in gate.judges):
                continue
            row = old.gates.get(self.old.gates.index(fp))
            if row is not None:
                decision.gates[index] = row
        decision.copy_rng = self._rng_handover(actions)
        return decision

    def _forced_by(self, decision: UnitDecision, old: OldUnit | None) -> set[str]:
        """Steps that must run for what the decision says of others: the target of a gate that
        sent the unit back and is not taken over (its feedback is in the target's answers),
        and the steps after it; every `rng` step after one that runs, or all of them when the
        stream cannot be handed on."""
        if old is None:
            return set()
        forced: set[str] = set()
        copied_old = {self.old.gates.index(self.new.gates[i]) for i in decision.gates}
        for index, (retries, _) in old.gates.items():
            if retries <= 0 or index in copied_old or index >= len(self.old_gate_targets):
                continue
            target = self.old_gate_targets[index]
            if target is not None and target in self.downstream:
                forced |= {target} | self.downstream[target]
        running = [n for n in self.rng_steps if decision.actions[n] != REUSE]
        if running:
            first = self.rng_steps.index(running[0])
            forced |= set(self.rng_steps[first:])
            if first > 0 and not decision.copy_rng:
                forced |= set(self.rng_steps)
        for name in list(forced):
            forced |= self.downstream.get(name, set())
        return forced

    def _rng_handover(self, actions: dict[str, str]) -> bool:
        """Whether the earlier run's saved stream is where the first `rng` step that runs starts."""
        running = [n for n in self.rng_steps if actions[n] != REUSE]
        if not running or self.rng_steps != self.old_rng_steps:
            return False
        first = self.rng_steps.index(running[0])
        return first == len(self.rng_steps) - 1 and first > 0

    def _check_again(
        self,
        uid: str,
        step: ir.StepDecl,
        fp: StepFingerprint,
        fields: dict[str, Any],
        outputs: dict[str, Any],
        rows: list[tuple[Any, ...]],
    ) -> tuple[list[tuple[Any, ...]], str | None]:
        """The step's stored answers validated again under its rules as they are now, in
        attempt order, until one passes; each later attempt only while its request is the one
        the earlier verdicts would make (same feedback)."""
        from octolang.runtime.llm_output import check_answer, compile_rules

        if self.answers is None:
            return [], None
        rules = self._rules.get(step.name)
        if rules is None:
            rules = self._rules[step.name] = compile_rules(step, self.filename)
        model = self.program.model(step.model or "")
        if model is None:
            return [], None
        if self.provider and model.provider != self.provider:
            model = model.model_copy(update={"provider": self.provider})
        identity = model_identity(model)
        context: dict[str, Any] = {"unit": fields, **{d: outputs.get(d, {}) for d in step.depends_on}}
        context.update(self.consts)
        kept: list[tuple[Any, ...]] = []
        expected = ""
        for row in rows:
            attempt, _, status, request, feedback, *_ = row
            if status == "error":
                kept.append(row)
                continue
            if (feedback or "") != expected:
                break
            key = answer_key(uid, fp.request, int(attempt), json.loads(request), identity)
            stored = self.answers.find([key]).get(key)
            if stored is None:
                break
            check = check_answer(stored.text, step.output_schema or {}, rules, context)
            if check.kind == "ok" and check.output is not None:
                output = _COMPACT.encode(check.output)
                kept.append(_verdict(row, "done", output, None, "ok"))
                return kept, output
            problems = json.dumps({"kind": check.kind, "problems": check.problems, "feedback": check.feedback()})
            kept.append(_verdict(row, "invalid", None, problems, check.kind))
            expected = check.feedback()
        return kept, None

    def plan(self, units: Iterator[tuple[str, int, dict[str, Any]]]) -> Iterator[Any]:
        """Decisions for `units` (id, ordinal, fields), a page at a time: yields
        (page of (id, ordinal, decision), the old units)."""
        page: list[tuple[str, int, dict[str, Any]]] = []
        for unit in units:
            page.append(unit)
            if len(page) >= PAGE:
                yield self._page(page)
                page = []
        if page:
            yield self._page(page)

    def _page(self, page: list[tuple[str, int, dict[str, Any]]]) -> tuple[list[Any], dict[str, OldUnit]]:
        old = self.old_units([u[0] for u in page])
        out = []
        for uid, ordinal, fields in page:
            out.append((uid, ordinal, self.decide(uid, fields, old.get(uid))))
        return out, old


def _verdict(row: tuple[Any, ...], status: str, output: str | None, problems: str | None, kind: str) -> tuple[Any, ...]:
    attempt, generation, _, request, feedback, response, _, _, _, usage, cost, created, finished = row
    return (
        attempt,
        generation,
        status,
        request,
        feedback,
        response,
        output,
        problems,
        kind,
        usage,
        cost,
        created,
        finished,
    )
