"""Paths given on the command line, as a Windows shell passes them, and outputs that never replace a user's file.

cmd and PowerShell pass `收到的文件/*.xlsx` literally: wildcards (`*`, `?`, `[...]`) are expanded here,
only when no file or folder of that literal name exists. Folders are searched recursively for reports
(the same discovery as the consolidation). An output that exists is replaced only when it holds what
would be written anyway (or a previous output of the same command, told by its content), or with --force.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Callable, Iterable

from .errors import XxgkError

WILDCARDS = frozenset("*?[")


def has_wildcard(text: str) -> bool:
    return any(ch in WILDCARDS for ch in text)


REPORT_SUFFIXES = (".xlsx", ".json")  # consolidate.SUFFIXES, without importing consolidate for one file


def expand(item: str | Path) -> list[Path]:
    """One argument: the literal path when it exists or has no wildcard (a missing file is then reported by
    whoever reads it, as for any file), else the files and folders its wildcards match (sorted; hidden
    names only when the pattern asks for them). A pattern that matches nothing is an error (exit 2)."""
    text = str(item)
    if os.path.lexists(text) or not has_wildcard(text):
        return [Path(text)]
    matches = sorted(glob.glob(text, recursive="**" in text))
    if not os.path.basename(text).startswith("~$"):  # Office's lock files are never reports
        matches = [m for m in matches if not os.path.basename(m).startswith("~$")]
    if not matches:
        raise XxgkError("没有与通配符匹配的文件或文件夹，请检查路径和文件名", path=text)
    return [Path(m) for m in matches]


def input_files(items: Iterable[str | Path], *, folders: bool = True) -> list[Path]:
    """Every argument expanded (wildcards), folders searched recursively for .xlsx and .json reports
    (hidden and `~$` lock files skipped), in the order given; a file found in a folder is listed once."""
    found: dict[Path, Path] = {}
    listed: list[Path] = []
    for item in items:
        for path in expand(item):
            if path.is_dir() and path.suffix.lower() not in REPORT_SUFFIXES:  # a folder named *.xlsx: its reader says so
                from .consolidate import discover  # only for folders: `xxgk validate one.xlsx` starts without it

                if not folders:
                    raise XxgkError("这里需要一个文件，不是文件夹", path=str(path))
                reports = discover([path])
                if not reports:
                    raise XxgkError("文件夹中没有报告文件（.xlsx 或 .json）", path=str(path))
                for report in reports:
                    if report.resolve() not in found:
                        found[report.resolve()] = report
                        listed.append(report)
            else:  # a file named on the command line is listed as given, even twice
                found.setdefault(path.resolve(), path)
                listed.append(path)
    return listed


def one_input(item: str | Path) -> str:
    """The single file of a command that reads one: a wildcard must match exactly one file."""
    paths = expand(item)
    if len(paths) > 1:
        shown = "、".join(p.name for p in paths[:5]) + ("等" if len(paths) > 5 else "")
        raise XxgkError(f"通配符匹配到 {len(paths)} 个文件（{shown}），这个命令一次只处理一个文件，请写出完整文件名",
                        path=str(item))
    if paths[0].is_dir():
        raise XxgkError("这里需要一个文件，不是文件夹", path=str(paths[0]))
    return str(paths[0])


def not_an_input(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an output that is one of the inputs (exit 2): nothing the user gave us is modified."""
    path = Path(output)
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise XxgkError("输出文件与输入文件相同，为保护原文件，未写入；请用 -o 指定另一个文件名", path=str(path))


def check_suffix(output: str | Path, allowed: tuple[str, ...], what: str, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse an output name whose extension the command does not write (exit 2); first, an output that is
    one of the inputs."""
    not_an_input(output, inputs)
    if Path(output).suffix.lower() not in allowed:
        names = "、".join(allowed)
        raise XxgkError(f"xxgk {what} 的输出文件扩展名应为 {names}，不能写出其他格式", path=str(output))


def prepare_output(output: str | Path, data: bytes | None, *, force: bool,
                   previous: Callable[[Path], bool] | None = None, inputs: Iterable[str | Path] = ()) -> Path:
    """Before writing `output`: create its missing folders; refuse to replace an existing file unless it
    already holds `data` byte for byte, or `previous(path)` says it is an earlier output of the same
    command, or `force` is given."""
    path = Path(output)
    not_an_input(path, inputs)
    if path.is_dir():
        raise XxgkError("输出路径是一个文件夹，请给出文件名", path=str(path))
    if path.exists() and not force:
        same = False
        try:
            same = data is not None and path.stat().st_size == len(data) and path.read_bytes() == data
        except OSError:
            pass
        if not same and not (previous and _safely(previous, path)):
            raise XxgkError("输出文件已存在，且内容与本次要写入的不同；为免覆盖已有的文件，未写入。"
                            "请用 -o 换一个文件名，或确认可以覆盖后加 --force 重新运行", path=str(path))
    make_folder(path.parent)
    return path


def make_folder(folder: str | Path) -> None:
    folder = Path(folder)
    if str(folder) in ("", ".") or folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XxgkError(f"无法创建输出文件夹（{exc.strerror}）", path=str(folder)) from None


def _safely(check: Callable[[Path], bool], path: Path) -> bool:
    try:
        return bool(check(path))
    except Exception:  # an unreadable file is not a previous output: it stays untouched
        return False
