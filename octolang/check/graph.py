"""The dependency graph: cycles, order, gates that point the right way, unused steps."""

from __future__ import annotations

from octolang import ir
from octolang.diagnostics import Diagnostic, Label, did_you_mean, error, warning


def reaches(deps: dict[str, set[str]], step: str, target: str, position: dict[str, int]) -> bool:
    """Whether `step` depends on `target`, directly or not. Dependencies point to earlier
    steps in topological order, so nothing before `target` needs exploring: a gate whose
    target sits just upstream of its judge is answered in a few steps, not the whole graph."""
    floor = position.get(target, 0)
    seen: set[str] = set()
    stack = list(deps.get(step, ()))
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current not in seen and position.get(current, floor) > floor:
            seen.add(current)
            stack.extend(deps.get(current, ()))
    return False


def find_cycles(program: ir.Program, deps: dict[str, set[str]]) -> list[Diagnostic]:
    order = [s.name for s in program.steps]
    spans = {s.name: s.name_span for s in program.steps}
    state: dict[str, int] = {}
    out: list[Diagnostic] = []
    reported: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(deps.get(node, ()), key=order.index):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    loop = " -> ".join(f"`{n}`" for n in [*cycle, nxt])
                    out.append(
                        error(
                            "E0701",
                            f"steps depend on each other in a cycle: {loop}",
                            spans[cycle[0]],
                            labels=[Label(span=spans[n], message="part of the cycle") for n in cycle[1:]],
                            help="a step can only read steps that run before it; to revise an earlier answer, "
                            "use a `gate ... else retry`",
                        )
                    )
            elif state.get(nxt) is None:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for name in order:
        if state.get(name) is None:
            visit(name, [])
    return out


def topological_order(program: ir.Program, deps: dict[str, set[str]]) -> list[str]:
    """Kahn's algorithm, always taking the earliest-declared ready step: declaration order,
    moved only as far as dependencies require."""
    import heapq

    position = {s.name: i for i, s in reversed(list(enumerate(program.steps)))}
    by_index = {i: name for name, i in position.items()}
    waiting = {n: len(deps.get(n, set()) & position.keys()) for n in position}
    dependents: dict[str, list[str]] = {n: [] for n in position}
    for name in position:
        for dep in deps.get(name, set()) & position.keys():
            dependents[dep].append(name)
    ready = [i for n, i in position.items() if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = by_index[heapq.heappop(ready)]
        order.append(name)
        for child in dependents[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, position[child])
    placed = set(order)
    order += [n for n in sorted(position, key=position.__getitem__) if n not in placed]  # in a cycle
    return order


def check_gate(
    gate: ir.GateDecl, program: ir.Program, deps: dict[str, set[str]], position: dict[str, int]
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if not gate.judges:
        out.append(
            error(
                "E0703",
                "this gate's condition reads no step",
                gate.condition.span,
                help="a gate checks a step's output, e.g. `gate review.score >= 7 else retry line`",
            )
        )
    if gate.action != "retry":
        return out
    target = gate.target or ""
    target_span = gate.target_span or gate.span
    if target not in deps:
        steps = [s.name for s in program.steps]
        out.append(
            error(
                "E0102",
                f"unknown step `{target}`",
                target_span,
                help=did_you_mean(target, steps) or f"steps: {', '.join(steps)}",
            )
        )
        return out
    if gate.max_retries < 1:
        out.append(error("E0705", "`max` must be at least 1", gate.span))
    for judge in gate.judges:
        if target == judge or not reaches(deps, judge, target, position):
            relation = "is the step it judges" if target == judge else f"does not run before `{judge}`"
            out.append(
                error(
                    "E0702",
                    f"the gate sends units back to `{target}`, which {relation}",
                    target_span,
                    labels=[
                        Label(
                            span=program.step(judge).name_span,  # type: ignore[union-attr]
                            message=f"`{judge}` is judged here",
                        )
                    ],
                    help=f"retry a step that `{judge}` reads, directly or through other steps",
                )
            )
    return out


def unused_steps(program: ir.Program, read: set[str]) -> list[Diagnostic]:
    out = []
    for step in program.steps:
        if step.name not in read:
            out.append(
                warning(
                    "W0101",
                    f"nothing reads the output of step `{step.name}`",
                    step.name_span,
                    help="its results are kept in the run folder; use it in a report, "
                    "a gate or a later step, or remove it",
                )
            )
    return out
