"""The Ray executor: each batch a Ray task (`shipped.run_batch`) on a worker of the
cluster at `address` (`auto`, `HOST:PORT`, `ray://HOST:PORT`), or of a Ray instance this
process starts for the run (sized to `--workers` or the CPUs, no dashboard, a small object
store) and stops at the end. The package goes to the workers through the job's
`runtime_env` (`py_modules`). A task whose worker dies is run again by Ray (up to
TASK_RETRIES times); a task that raised is not (it would raise again)."""

from __future__ import annotations

import importlib
import logging
import os
import signal
from typing import Any

from octolang import ir
from octolang.runtime.executors.base import ExecutorUnavailable
from octolang.runtime.executors.cluster import ClusterExecutor
from octolang.runtime.executors.package import SKIPPED, package_folder
from octolang.runtime.executors.shipped import StepSource, run_batch
from octolang.sandbox.limits import SandboxUnavailable

TASK_RETRIES = 4
OBJECT_STORE_BYTES = 128 * 1024 * 1024  # a local instance's; batches are small and short-lived


class RayExecutor(ClusterExecutor):
    name = "ray"

    def __init__(self, program: ir.Program, *, address: str | None = None, workers: int | None = None) -> None:
        super().__init__(program, workers=workers)
        self.address = address
        self._ray: Any = None
        self._task: Any = None

    def _start(self) -> int:
        try:
            ray: Any = importlib.import_module("ray")  # typed as Any: the engine is optional (`[scale]`)
        except ImportError as exc:
            raise ExecutorUnavailable(
                f"the ray executor needs Ray ({exc}); install it with `pip install 'octolang[scale]'`"
            ) from None
        runtime_env = {"py_modules": [package_folder()], "excludes": [f"**/{s}" for s in SKIPPED]}
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "namespace": "octolang"}
        # ray.init installs its own SIGTERM handler (exit 15): the run's own (interrupts.py)
        # is put back, so that SIGTERM saves the run and exits 143 as with local workers.
        handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.address is None:
                ray.init(
                    num_cpus=self.workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    runtime_env=runtime_env,
                    # Ray runs workers at nice 15 by default: on a busy machine the run's own
                    # compute would wait behind every other process, which local workers do not.
                    _system_config={"worker_niceness": 0},
                    **quiet,
                )
            else:
                ray.init(address=self.address, runtime_env=runtime_env, **quiet)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise ExecutorUnavailable(f"could not start or reach {where}: {exc}") from None
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
        self._ray = ray
        self._task = ray.remote(run_batch).options(
            name="octolang-batch", num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False
        )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return min(cpus, self.workers) if self.workers else cpus

    def _submit(self, source: StepSource, packed: bytes) -> Any:
        return self._task.remote(source, packed)

    def _finished(self, handles: list[Any], timeout: float) -> list[Any]:
        ready, _ = self._ray.wait(handles, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(handles, num_returns=len(handles), timeout=0)
        return list(ready)

    def _result(self, handle: Any) -> Any:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(handle)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, SandboxUnavailable):
                raise SandboxUnavailable(f"on a Ray worker: {cause}") from None
            raise ExecutorUnavailable(f"a Ray task failed: {cause or exc}") from None
        except exceptions.RayError as exc:
            raise ExecutorUnavailable(
                f"Ray lost a batch past its {TASK_RETRIES} retries ({type(exc).__name__}: {exc})"
            ) from None

    def _cancel(self, handles: list[Any]) -> None:
        # Not `ray.cancel`: cancelling a task as it completes can abort the driver inside Ray's
        # core ("Tried to complete task that was not pending"), seen under SIGTERM. The batches
        # left are dropped by `close` (ray.shutdown); on a cluster they finish unread.
        pass

    def close(self) -> None:
        if self._ray is not None:
            self._ray.shutdown()  # stops the instance this process started; a cluster's driver disconnects
            self._ray = None
