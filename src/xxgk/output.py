"""Writing outputs safely: a temporary file beside the target, then an atomic rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import XxgkError


def write_atomic(path: str | Path, data: bytes, *, inputs: tuple[Path, ...] = ()) -> Path:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half of one.

    Refuses to write over any of `inputs`: nothing the user gave us is modified.
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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise XxgkError(f"无法写入（{exc.strerror}）", path=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise XxgkError(f"无法写入（{exc.strerror}）", path=str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
