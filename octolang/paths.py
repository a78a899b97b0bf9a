"""Which files a pipeline may read, and where its runs may live.

A `.octo` file names its data files, and its folder holds the `.octo/runs` state; both
come with the file, so both are the file author's choice. What they may reach is the
user's: a data file must resolve, after symlinks, inside the pipeline's folder, and the
run folder must stay there too, unless the user allows a place outside (`--allow-outside
PATH`, or `OCTO_ALLOW_OUTSIDE`). A data file must be a regular file of bounded size
(`OCTO_MAX_DATA_MB`): a FIFO would hang the reader and `/dev/zero` would fill memory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

ALLOW_OUTSIDE_VAR = "OCTO_ALLOW_OUTSIDE"
MAX_DATA_VAR = "OCTO_MAX_DATA_MB"
MIB = 1024 * 1024
DEFAULT_MAX_DATA_MB = 256

# Not following a FIFO into a hang: opened non-blocking, then refused by fstat. Windows has neither flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class FileRefused(OSError):
    """A file the policy does not let a pipeline use. `code` is its diagnostic code; the
    message names the file and why, never its content."""

    def __init__(self, code: str, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help


@dataclass(frozen=True)
class FileAccess:
    """The user's word on files (the pipeline has none): real paths outside the
    pipeline's folder that may be read or hold runs, and the largest data file."""

    outside: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_DATA_MB * MIB

    def allows(self, real: str, folder: str) -> bool:
        """Whether the real path `real` may be used by a pipeline in `folder`."""
        return _inside(real, os.path.realpath(folder)) or any(_inside(real, place) for place in self.outside)


def file_access(allow_outside: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> FileAccess:
    """The access the user gives: `--allow-outside` paths and `OCTO_ALLOW_OUTSIDE` (paths
    separated by `os.pathsep`), and `OCTO_MAX_DATA_MB`. A bad size is a ValueError naming it."""
    environ = os.environ if environ is None else environ
    places = [*allow_outside, *(p for p in environ.get(ALLOW_OUTSIDE_VAR, "").split(os.pathsep) if p.strip())]
    return FileAccess(tuple(os.path.realpath(p) for p in places), max_data_bytes(environ))


def max_data_bytes(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    text = environ.get(MAX_DATA_VAR, "").strip()
    if not text:
        return DEFAULT_MAX_DATA_MB * MIB
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{MAX_DATA_VAR}={text!r} is not a whole number of MiB (at least 1)")
    return int(text) * MIB


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives, or a relative path against an absolute one
        return False


def data_file_path(name: str, folder: str, access: FileAccess) -> str:
    """The real path of the data file `name` (relative to the pipeline's `folder`), if
    the policy lets the pipeline read it there; a FileRefused (E0209) if not."""
    real = os.path.realpath(os.path.join(folder, name))
    if access.allows(real, folder):
        return real
    home = os.path.realpath(folder)
    if os.path.isabs(name):
        how = "it is an absolute path"
    elif not _inside(os.path.normpath(os.path.join(home, name)), home):
        how = "it goes up out of the folder"
    else:
        how = f"a symlink leads it to {real}"
    raise FileRefused(
        "E0209",
        f"`{name}` is outside the pipeline's folder ({how})",
        help="copy the file into the pipeline's folder, or let it read there: "
        f"`--allow-outside {os.path.dirname(real)}`",
    )


def open_regular(path: str, max_bytes: int | None = None, name: str | None = None) -> BinaryIO:
    """`path` opened for reading, if it is a regular file (of at most `max_bytes`): checked
    before opening (nothing blocks on a FIFO) and again on the open descriptor (the file
    may have been replaced in between). Raises FileRefused (E0210, E0211), calling the file
    `name` (default: its base name), or OSError."""
    name = name or os.path.basename(path)
    _check_type(name, os.stat(path), max_bytes)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _check_type(name, os.fstat(fd), max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, max_bytes: int, name: str | None = None) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (see `open_regular`); a file
    that grows past the bound while being read is refused all the same."""
    with open_regular(path, max_bytes, name) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_big(name or os.path.basename(path), len(data), max_bytes)
    return data


def _check_type(name: str, info: os.stat_result, max_bytes: int | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", name)
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(
            "E0210",
            f"`{name}` is {_kind(info.st_mode)}, not a regular file",
            help="a data file must be an ordinary file: a pipe or a device could block or never end",
        )
    if max_bytes is not None and info.st_size > max_bytes:
        raise _too_big(name, info.st_size, max_bytes)


def _too_big(name: str, size: int, max_bytes: int) -> FileRefused:
    return FileRefused(
        "E0211",
        f"`{name}` is {size:,} bytes, over the {_mib(max_bytes)} a data file may hold",
        help=f"split the data, or raise the bound with {MAX_DATA_VAR}=<MiB> (your setting, not the pipeline's)",
    )


def _mib(size: int) -> str:
    return f"{size / MIB:,.1f} MiB" if size % MIB else f"{size // MIB:,} MiB"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not an ordinary file"


def runs_root_refusal(root: str, pipeline_file: str, access: FileAccess) -> str | None:
    """Why the run folder `root` (`.octo/runs` next to the pipeline) may not be used, or
    None: `.octo`, or anything under it, reached through a symlink that leads out of the
    pipeline's folder (the run's state would be written there) and not allowed by the user."""
    folder = os.path.dirname(os.path.abspath(pipeline_file))
    octo = os.path.dirname(root)
    candidates = [octo, root]
    if os.path.isdir(octo):
        for here, dirs, files in os.walk(octo):
            candidates += [os.path.join(here, n) for n in (*dirs, *files) if os.path.islink(os.path.join(here, n))]
    for path in candidates:
        real = os.path.realpath(path)
        if not access.allows(real, folder):
            shown = os.path.relpath(path, folder)
            return (
                f"the run folder is not inside the pipeline's folder: {shown} leads to {real}, where the run's "
                f"state would be written. Remove the symlink, choose a folder with --run-dir, or allow the place "
                f"with --allow-outside {real}"
            )
    return None
