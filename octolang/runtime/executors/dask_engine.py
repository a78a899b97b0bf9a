"""The Dask executor: each batch a task (`shipped.run_batch`) submitted to the scheduler
at `scheduler` (`tcp://HOST:PORT`; a SLURM or PBS cluster through dask-jobqueue has one),
or to a `distributed.LocalCluster` this process starts for the run (one single-threaded
worker process per CPU or `--workers`, no dashboard) and stops at the end. The package
goes to the workers with the `UploadFile` worker plugin (a zip, also given to workers that join
later). The tasks of a worker that dies are run again on another by the scheduler."""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
import warnings
from typing import Any

from octolang import ir
from octolang.runtime.executors.base import ExecutorUnavailable
from octolang.runtime.executors.cluster import ClusterExecutor
from octolang.runtime.executors.package import package_zip
from octolang.runtime.executors.shipped import StepSource, run_batch
from octolang.sandbox.limits import SandboxUnavailable

CONNECT_SECONDS = 30


class DaskExecutor(ClusterExecutor):
    name = "dask"

    def __init__(self, program: ir.Program, *, scheduler: str | None = None, workers: int | None = None) -> None:
        super().__init__(program, workers=workers)
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None
        self._distributed: Any = None

    def _start(self) -> int:
        try:
            distributed: Any = importlib.import_module("distributed")  # Any: the engine is optional (`[scale]`)
        except ImportError as exc:
            raise ExecutorUnavailable(
                f"the dask executor needs dask.distributed ({exc}); install it with `pip install 'octolang[scale]'`"
            ) from None
        from distributed.diagnostics.plugin import UploadFile

        self._distributed = distributed
        try:
            if self.scheduler is None:
                # Without a dashboard the scheduler still serves its health page, on 8787 if free
                # (else a free port, with a warning that says nothing to the user of a run).
                warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,  # a worker stopped mid-task logs errors the run does not need
                )
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(self.scheduler, timeout=CONNECT_SECONDS)
            self._client.wait_for_workers(1, timeout=CONNECT_SECONDS)
            with tempfile.TemporaryDirectory() as folder:
                # To the workers only (Client.upload_file also loads it into the scheduler: a
                # local cluster's scheduler is this process, which would reload octolang itself
                # from the zip, a file that goes when the cluster does).
                plugin = UploadFile(package_zip(folder))
                self._client.register_plugin(plugin, name=f"octolang-{plugin.filename}")
        except Exception as exc:  # OSError, TimeoutError, ...: said as one line
            self.close()
            where = f"the Dask scheduler at {self.scheduler}" if self.scheduler else "a local Dask cluster"
            raise ExecutorUnavailable(f"could not start or reach {where}: {exc}") from None
        threads = int(sum(w.get("nthreads", 1) for w in self._client.scheduler_info()["workers"].values()))
        return min(threads, self.workers) if self.workers else threads

    def _submit(self, source: StepSource, packed: bytes) -> Any:
        return self._client.submit(run_batch, source, packed, pure=False)

    def _finished(self, handles: list[Any], timeout: float) -> list[Any]:
        try:
            done, _ = self._distributed.wait(handles, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def _result(self, handle: Any) -> Any:
        try:
            return handle.result()
        except SandboxUnavailable as exc:
            raise SandboxUnavailable(f"on a Dask worker: {exc}") from None
        except self._distributed.KilledWorker as exc:
            raise ExecutorUnavailable(f"Dask gave up on a batch whose workers kept dying ({exc})") from None
        except Exception as exc:
            raise ExecutorUnavailable(f"a Dask task failed: {type(exc).__name__}: {exc}") from None

    def _cancel(self, handles: list[Any]) -> None:
        try:
            self._client.cancel(handles)
        except Exception:
            pass  # the client is closing

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
