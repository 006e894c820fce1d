"""Reading processes that never outlive the run, and SIGTERM as an orderly stop.

A killed `xxgk consolidate` must leave nothing running. Each worker asks the kernel to kill it when
its parent dies (Linux: PR_SET_PDEATHSIG) and also runs a watchdog thread that exits as soon as the
parent is gone (every platform; on Windows it waits on the parent's process handle). SIGTERM to the
parent becomes `Terminated` in its main thread: pending work is cancelled, the workers are stopped,
and the command exits as after Ctrl+C.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator

WINDOWS_MAX_WORKERS = 61  # ProcessPoolExecutor refuses more on Windows (a WaitForMultipleObjects limit)
WATCH_INTERVAL = 0.5  # seconds between a worker's looks at its parent, where it cannot be told


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop like Ctrl+C (exit 130). A KeyboardInterrupt so no per-file `except Exception` swallows it."""

    def __init__(self) -> None:
        super().__init__("收到终止信号（SIGTERM），已停止")


def capped_jobs(jobs: int, platform: str = sys.platform) -> tuple[int, str]:
    """`jobs` within what the platform allows, and a Chinese note when it had to be lowered."""
    if platform == "win32" and jobs > WINDOWS_MAX_WORKERS:
        return WINDOWS_MAX_WORKERS, (f"--jobs {jobs} 超过 Windows 允许的读取进程数上限，"
                                     f"改为 {WINDOWS_MAX_WORKERS}")
    return jobs, ""


@contextmanager
def pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers die with this process; on any exception (SIGTERM, Ctrl+C, an
    error) pending work is cancelled and the workers are stopped before the exception goes on."""
    executor = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(os.getpid(),))
    try:
        with sigterm_raises():
            yield executor
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)


def _stop(executor: ProcessPoolExecutor) -> None:
    # The pool has no public way to stop a running task; its process table is private. If that ever
    # changes, the workers still go: they exit when this process does (see `_init_worker`).
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError):
            pass
    for process in processes:
        try:
            process.join(5)
        except (OSError, ValueError, AssertionError):
            pass


# -- in the worker ----------------------------------------------------------------------------------


def _init_worker(parent: int) -> None:
    """Runs first in every worker: die with the parent, whatever kills it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle; it stops us
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the parent's handler
    if sys.platform == "win32":
        _watch_windows_parent(parent)
        return
    if sys.platform.startswith("linux"):
        _set_parent_death_signal()
    direct = os.getppid()  # the parent, or the fork server that started us
    if not process_alive(parent):  # it died before the death signal was set: nobody will send it
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            if os.getppid() != direct or not process_alive(parent):
                os._exit(1)

    threading.Thread(target=watch, name="xxgk-parent-watch", daemon=True).start()


def _set_parent_death_signal() -> None:
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watchdog thread still covers it


def _watch_windows_parent(parent: int) -> None:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    SYNCHRONIZE, INFINITE = 0x00100000, 0xFFFFFFFF
    handle = kernel32.OpenProcess(SYNCHRONIZE, False, parent)
    if not handle:
        if not process_alive(parent):
            os._exit(1)

        def poll() -> None:  # no handle (rights): look every so often instead
            while process_alive(parent):
                time.sleep(WATCH_INTERVAL)
            os._exit(1)

        threading.Thread(target=poll, name="xxgk-parent-watch", daemon=True).start()
        return

    def wait() -> None:
        kernel32.WaitForSingleObject(handle, INFINITE)  # returns when the parent has exited
        os._exit(1)

    threading.Thread(target=wait, name="xxgk-parent-watch", daemon=True).start()


# -- whether a process is still there (also used for locks) -----------------------------------------


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has exited). Never signals it."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate it there
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal test has to do
    return state not in (b"Z", b"X")


def _windows_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    PROCESS_QUERY_LIMITED_INFORMATION, STILL_ACTIVE, ERROR_ACCESS_DENIED = 0x1000, 259, 5
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return ctypes.get_last_error() == ERROR_ACCESS_DENIED
    try:
        code = wintypes.DWORD()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def process_token(pid: int) -> str:
    """What tells this process from a later one given the same pid: its start time (Linux; else "")."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


# -- SIGTERM in the parent --------------------------------------------------------------------------

_deferring = 0
_pending = False


def _on_sigterm(signum, frame) -> None:
    global _pending
    if _deferring:
        _pending = True
        return
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises `Terminated` (main thread only: elsewhere nothing changes)."""
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """A SIGTERM arriving within the block takes effect at its end: for steps that must not be split."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending:
            _pending = False
            raise Terminated()
