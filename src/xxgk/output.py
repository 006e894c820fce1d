"""Writing outputs safely: a temporary file beside the target, then an atomic rename."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO
from pathlib import Path

from .errors import XxgkError


def temp_prefix(path: Path) -> str:
    """How the temporary files for `path` are named (`.NAME.<random>.tmp`): a later run finds a killed run's by it."""
    return f".{path.name[:200]}."


def write_temp(path: str | Path, data: bytes | Iterable[bytes], *, inputs: tuple[Path, ...] = ()) -> Path:
    """Write `data` (bytes, or pieces of bytes made as they are written) completely (and to disk) into a new
    temporary file beside `path`; return that file.

    The caller renames it over `path`. Refuses to write over any of `inputs`: nothing the user gave
    us is modified.
    """
    path = Path(path)
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise XxgkError("输出文件与输入文件相同，为保护原文件，未写入；请用 -o 指定另一个文件名", path=str(path))
    if path.is_dir():
        raise XxgkError("输出路径是一个文件夹，请给出文件名", path=str(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise XxgkError("输出文件夹不存在", path=str(folder))
    with temp_file(path) as (fh, tmp):
        if isinstance(data, (bytes, bytearray)):
            half = len(data) // 2
            data = (data[:half], data[half:])
        for n, piece in enumerate(data):
            fh.write(piece)
            if n == 0:
                pause_for_test("partial", fh)
    return tmp


@contextmanager
def temp_file(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temporary file beside `path`, open for writing: on leaving, flushed to disk; removed when
    anything failed (the writer, the disk, a cancelled run), so no half file is ever left behind."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=folder)
    except OSError as exc:
        raise XxgkError(f"无法写入（{exc.strerror}）", path=str(path)) from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise XxgkError(f"无法写入（{exc.strerror}）", path=str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit(tmp: Path, path: Path) -> None:
    """Rename a finished temporary file over `path` (a reader sees the old file or the new one); the
    temporary file is removed if that fails."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise XxgkError(f"无法写入（{exc.strerror}）", path=str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes, *, inputs: tuple[Path, ...] = ()) -> Path:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half of one.

    Refuses to write over any of `inputs`: nothing the user gave us is modified.
    """
    path = Path(path)
    commit(write_temp(path, data, inputs=inputs), path)
    return path


def pause_for_test(step: str, fh=None) -> None:
    """Test-only hook: stop at `step` when XXGK_TEST_PAUSE names it, so a test can kill a run mid-write.

    Announces the stop on stderr, then waits until the file named by XXGK_TEST_RESUME exists (or for
    an hour). Costs one dictionary lookup when the variable is unset.
    """
    if os.environ.get("XXGK_TEST_PAUSE") != step:
        return
    if fh is not None:
        fh.flush()  # what is written so far is on disk for the test to see
    sys.stderr.write(f"xxgk-test-pause {step} {os.getpid()}\n")
    sys.stderr.flush()
    resume = os.environ.get("XXGK_TEST_RESUME")
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline and not (resume and os.path.exists(resume)):
        time.sleep(0.05)
