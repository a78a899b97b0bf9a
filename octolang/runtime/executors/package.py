"""The octolang package as the coordinator runs it, shipped to a cluster's workers, so that
they compile and run the step with the same code: a folder for Ray's `runtime_env`
(`py_modules`, which Ray uploads once per content hash), a zip for Dask's `UploadFile` worker plugin.
Only octolang's own source goes; its dependencies (NumPy, jsonschema, pyseccomp, ...) must be
installed on the workers (docs/scale.md)."""

from __future__ import annotations

import hashlib
import os
import zipfile

import octolang

SKIPPED = ("__pycache__",)


def package_folder() -> str:
    return os.path.dirname(os.path.abspath(octolang.__file__))


def _files(folder: str) -> list[str]:
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        found += [os.path.join(parent, f) for f in sorted(files) if not f.endswith(".pyc")]
    return found


def package_zip(into: str) -> str:
    """A zip of the package in folder `into`, named by its content's digest (a worker that
    has one version keeps it apart from another's)."""
    folder = package_folder()
    root = os.path.dirname(folder)
    files = _files(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.relpath(path, root).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(handle.read())
    target = os.path.join(into, f"octolang-{digest.hexdigest()[:16]}.zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, os.path.relpath(path, root))
    return target
