"""The OS side of the boundary around compute code: what a worker process does to itself
before it runs any user code, so that code which got past the AST policy still cannot
write files, start processes, open sockets or take the machine's memory.

Everything here is applied once per worker, in the child, right after the fork; the
worker is never given back any of it (rlimits only go down, `no_new_privs` and seccomp
filters cannot be lifted).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
from dataclasses import dataclass

# Defaults, each documented in docs/language.md ("Sandbox") and docs/architecture.md.
DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024  # address space a worker may add to what it inherits
DEFAULT_OUTPUT_BYTES = 1_000_000  # one unit's output, serialised
DEFAULT_MESSAGE_CHARS = 2_000  # one unit's failure message
DEFAULT_OUTPUT_DEPTH = 64  # nesting of lists and objects in one output
OPEN_FILES = 64  # RLIMIT_NOFILE: enough for lazy imports, not for hoarding descriptors

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38

# open(2) flags that write or create (x86-64 and arm64 agree on these values).
_WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND)
_CLONE_THREAD = 0x00010000

# Refused outright (EPERM): every way to create, change or remove a file or its metadata,
# to start a process or a program, to talk over a socket, or to reach another process.
_REFUSED = (
    "creat mkdir mkdirat mknod mknodat link linkat symlink symlinkat rename renameat renameat2 "
    "unlink unlinkat rmdir truncate ftruncate fallocate chmod fchmod fchmodat chown fchown lchown "
    "fchownat utime utimes utimensat futimesat setxattr lsetxattr fsetxattr removexattr lremovexattr "
    "fremovexattr open_by_handle_at memfd_create "
    "fork vfork execve execveat ptrace process_vm_readv process_vm_writev pidfd_open pidfd_getfd "
    "pidfd_send_signal kill tkill "
    "socket socketpair connect bind listen accept accept4 "
    "io_uring_setup io_uring_enter io_uring_register bpf perf_event_open userfaultfd "
    "mount umount2 pivot_root chroot unshare setns keyctl add_key request_key "
    "init_module finit_module delete_module kexec_load reboot swapon swapoff"
).split()
# Answered "not implemented", so that the C library falls back to a call the filter can read:
# openat2 and clone3 take their flags in a struct that a seccomp filter cannot look into.
_UNAVAILABLE = ("openat2", "clone3")


class SandboxUnavailable(Exception):
    """The OS boundary could not be set up: compute code is not run without it."""


@dataclass(frozen=True)
class WorkerLimits:
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    unit_seconds: float = 10.0  # CPU seconds a unit may use: RLIMIT_CPU, a backstop to the parent's deadline
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    message_chars: int = DEFAULT_MESSAGE_CHARS
    output_depth: int = DEFAULT_OUTPUT_DEPTH


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, value, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise SandboxUnavailable(f"prctl({option}) failed: {os.strerror(code)}")


def die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (a parent killed by SIGTERM or SIGKILL leaves no worker)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def detach_descriptors(keep: tuple[int, ...]) -> None:
    """Close every inherited descriptor (the run's state database among them) but `keep`;
    0, 1 and 2 become /dev/null, so nothing the worker does reaches the terminal."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != null:
            os.dup2(null, fd)
    kept = sorted({*keep, 0, 1, 2})
    low = 3
    for fd in kept:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, max(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))


def address_space() -> int:
    """This process's current virtual size in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _lower(limit: int, value: int) -> None:
    hard = resource.getrlimit(limit)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def apply_rlimits(limits: WorkerLimits) -> None:
    _lower(resource.RLIMIT_AS, address_space() + limits.memory_bytes)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG
    _lower(resource.RLIMIT_FSIZE, 0)
    _lower(resource.RLIMIT_CORE, 0)
    _lower(resource.RLIMIT_NPROC, 0)  # no new process or thread (not enforced for root: seccomp is)
    _lower(resource.RLIMIT_NOFILE, OPEN_FILES)


def allow_cpu(seconds: float) -> None:
    """RLIMIT_CPU at what the worker used so far plus `seconds` (set before each batch; the
    worker is killed by SIGXCPU past it, should the parent's deadline not come first)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def install_syscall_filter() -> None:
    """Load the seccomp filter (after PR_SET_NO_NEW_PRIVS). Refused calls fail with EPERM,
    so the unit fails with a PermissionError and the worker goes on."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 missing
        raise SandboxUnavailable(f"the seccomp library could not be loaded ({exc}); install libseccomp2") from None
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    refuse = seccomp.ERRNO(errno.EPERM)
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in _REFUSED:
            _add(rules, refuse, name)
        for name in _UNAVAILABLE:
            _add(rules, seccomp.ERRNO(errno.ENOSYS), name)
        for flag in _WRITE_FLAGS:
            _add(rules, refuse, "open", seccomp.Arg(1, seccomp.MASKED_EQ, flag, flag))
            _add(rules, refuse, "openat", seccomp.Arg(2, seccomp.MASKED_EQ, flag, flag))
        # Threads (CLONE_THREAD) may still be made by the C library; new processes may not.
        _add(rules, refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
        _add(rules, refuse, "tgkill", seccomp.Arg(0, seccomp.NE, os.getpid()))  # signals to itself only
        rules.load()
    except OSError as exc:
        raise SandboxUnavailable(f"the seccomp filter could not be loaded: {exc}") from None


def _add(rules: object, action: int, name: str, *args: object) -> None:
    try:
        rules.add_rule(action, name, *args)  # type: ignore[attr-defined]
    except (OSError, ValueError, RuntimeError):
        pass  # a call this architecture does not have (e.g. `open` on arm64)


def enter_boundary(parent: int, keep: tuple[int, ...], limits: WorkerLimits) -> None:
    """Everything a worker does before the first unit: in this order, since the filter
    forbids some of the steps before it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)
    detach_descriptors(keep)
    os.environ.clear()  # keys in the environment are not the code's to read
    apply_rlimits(limits)
    install_syscall_filter()
