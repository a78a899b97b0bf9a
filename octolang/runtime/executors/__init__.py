"""Executors of compute steps: `local` (worker processes forked by the coordinator, the
default), `ray` and `dask` (batches of units as tasks on a cluster). Chosen by `octoc run
--executor` or the file's `run { executor = ... }`; docs/scale.md."""

from __future__ import annotations

from octolang import ir
from octolang.runtime.executors.base import EXECUTORS, ComputeExecutor, ExecutorUnavailable, LocalExecutor


def open_executor(
    name: str, program: ir.Program, *, address: str | None = None, workers: int | None = None
) -> ComputeExecutor:
    """The executor `name`, not yet connected (a cluster is reached on the first compute
    slice). `address`: Ray's cluster address, or Dask's scheduler."""
    if name == "ray":
        from octolang.runtime.executors.ray_engine import RayExecutor

        return RayExecutor(program, address=address, workers=workers)
    if name == "dask":
        from octolang.runtime.executors.dask_engine import DaskExecutor

        return DaskExecutor(program, scheduler=address, workers=workers)
    if name != "local":
        raise ValueError(f"unknown executor {name!r}")
    return LocalExecutor()


__all__ = ["EXECUTORS", "ComputeExecutor", "ExecutorUnavailable", "LocalExecutor", "open_executor"]
