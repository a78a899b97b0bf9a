"""The `run { ... }` block: where the run's compute steps go. Its settings and the
executor's name are checked here; the executors themselves are octolang/runtime/executors/."""

from __future__ import annotations

from octolang import ir
from octolang.diagnostics import Diagnostic, did_you_mean, error, warning

# Mirrors octolang.runtime.executors.EXECUTORS (the checker does not import the runtime).
EXECUTORS = ("local", "ray", "dask")
# A setting, what it means, and the executor it is for (None: any).
RUN_SETTINGS: dict[str, tuple[str, str | None]] = {
    "executor": ("where compute steps run: local, ray or dask", None),
    "address": ("the Ray cluster: auto, HOST:PORT or ray://HOST:PORT", "ray"),
    "scheduler": ("the Dask scheduler: tcp://HOST:PORT", "dask"),
}


def check_run(program: ir.Program) -> list[Diagnostic]:
    run = program.run
    if run is None:
        return []
    out: list[Diagnostic] = []
    executor = run.setting("executor", "local")
    for setting in run.settings:
        rule = RUN_SETTINGS.get(setting.name)
        if rule is None:
            out.append(
                error(
                    "E0930",
                    f"unknown run setting `{setting.name}`",
                    setting.span,
                    help=did_you_mean(setting.name, RUN_SETTINGS) or f"settings: {', '.join(RUN_SETTINGS)}",
                )
            )
            continue
        meaning, only_for = rule
        if not isinstance(setting.value, str) or setting.value == "":
            out.append(
                error(
                    "E0931",
                    f"`{setting.name}` takes a text, not {setting.value!r}",
                    setting.value_span,
                    help=f"{setting.name}: {meaning}",
                )
            )
        elif setting.name == "executor" and setting.value not in EXECUTORS:
            out.append(
                error(
                    "E0932",
                    f"unknown executor `{setting.value}`",
                    setting.value_span,
                    help=did_you_mean(setting.value, EXECUTORS) or f"executors: {', '.join(EXECUTORS)}",
                )
            )
        elif only_for is not None and executor != only_for:
            out.append(
                error(
                    "E0933",
                    f"`{setting.name}` is for the {only_for} executor, and this run's is {executor}",
                    setting.span,
                    help=f'set `executor = "{only_for}"`, or remove `{setting.name}`',
                )
            )
    if executor in ("ray", "dask") and not any(s.kind == "compute" for s in program.steps):
        out.append(
            warning(
                "W0210",
                f"the {executor} executor runs compute steps, and this pipeline has none",
                run.span,
                help="llm steps are sent by the coordinator whatever the executor; remove the `run` block",
            )
        )
    return out
