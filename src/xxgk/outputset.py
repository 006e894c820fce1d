"""One consolidation run's outputs as one set: a run id in each, a lock, and a fixed commit order.

The run id is a fingerprint of the run's content, not a clock or a random number: the SHA-256 of the
manifest's content without outputs (tool, rule and template versions, agency, options, every input's
path, SHA-256 and result, the roster's outcome). The same inputs and options therefore still give
byte-identical files, and two runs with the same id wrote the same bytes. The id is in the workbook's
identity sheet `_xxgk` (and its 清单 sheet), in the manifest, and in the web page's
`<meta name="xxgk-run-id">`.

Writing a set (`OutputSet.write`):
1. take a lock beside the workbook and the web page (`X.xlsx.lock`, created with O_CREAT|O_EXCL,
   holding pid, process start time, host and run id). A lock whose process is gone is taken over; a
   live one refuses with exit 2, naming that run. Nothing is written then.
2. holding the locks: remove the temporary files a killed run left for these outputs
   (`.NAME.<8 characters>.tmp`, see `output.write_temp`), and say so when the outputs already there
   are not one complete set.
3. write every output completely to its temporary file, then rename them in a fixed order: workbook,
   web page, manifest last (a SIGTERM waits for the renames).

The manifest is the commit marker. A set is complete when the manifest exists and every output it
lists carries the manifest's run id. A run killed before the renames leaves the previous set
untouched; one killed between them leaves a workbook whose run id differs from the manifest's, which
`xxgk verify` and the next consolidation name (`problems`). The next run writes a whole set again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import XxgkError
from .output import pause_for_test, temp_prefix, write_temp
from .workers import process_alive, process_token, sigterm_deferred, sigterm_raises

RUN_ID_KEY = "run_id"  # in the identity sheet, the 清单 sheet and the manifest
HTML_META = "xxgk-run-id"
LOCK_SUFFIX = ".lock"
UNREADABLE_LOCK_AGE = 30  # seconds: an empty or garbled lock older than this is left over, not being written
_TEMP_TAIL = re.compile(r"[a-z0-9_]{8}\.tmp")  # what tempfile.mkstemp adds after our prefix
_HTML_RUN_ID = re.compile(rb'<meta name="' + HTML_META.encode() + rb'" content="([0-9a-f]{1,64})"')


def content_id(content: Any) -> str:
    """The run id of a run whose outputs are determined by `content` (JSON-able): 32 hex digits."""
    blob = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def manifest_path(workbook: Path) -> Path:
    return Path(workbook).with_suffix(".manifest.json")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


@dataclass(frozen=True)
class OutputSet:
    """The files of one consolidation run: workbook, its manifest, and optionally a web page."""

    workbook: Path
    html: Path | None = None

    @property
    def manifest(self) -> Path:
        return manifest_path(self.workbook)

    def listing(self) -> dict[str, str]:
        """The set as the manifest records it (paths relative to the manifest's folder)."""
        out = {"workbook": self.workbook.name}
        if self.html is not None:
            folder = os.path.abspath(self.manifest.parent)
            try:
                out["html"] = Path(os.path.relpath(os.path.abspath(self.html), folder)).as_posix()
            except ValueError:  # another drive (Windows)
                out["html"] = Path(os.path.abspath(self.html)).as_posix()
        return out

    def write(self, run_id: str, workbook: bytes, manifest: bytes, html: bytes | Iterable[bytes] | None = None, *,
              inputs: tuple[Path, ...] = (), say: Callable[[str], None] = print) -> None:
        """Lock, tidy up after a killed run, write everything to temporary files, then commit in order."""
        targets = [(self.workbook, workbook)]
        if self.html is not None and html is not None:
            targets.append((self.html, html))
        targets.append((self.manifest, manifest))
        with sigterm_raises(), locks([self.workbook] + ([self.html] if self.html is not None else []), run_id):
            removed = remove_stale_temps([path for path, _ in targets])
            if removed:
                say(f"已删除上次中断的汇总留下的 {removed} 个临时文件")
            for problem in problems(self.workbook):
                say(f"上次写出的汇总输出不是完整的一套：{problem}；本次重新写出全部输出")
            temps: list[Path] = []
            try:
                for path, data in targets:
                    temps.append(write_temp(path, data, inputs=inputs))
                with sigterm_deferred():
                    for n, ((path, _), tmp) in enumerate(zip(targets, temps)):
                        try:
                            os.replace(tmp, path)
                        except OSError as exc:
                            done = "，".join(p.name for p, _ in targets[:n])
                            raise XxgkError(f"无法写入（{exc.strerror}）" + (
                                f"；{done} 已更新而清单文件未更新，这一套输出不完整，请重新运行" if n else ""),
                                path=str(path)) from None
                        if n == 0:
                            pause_for_test("commit")
            finally:
                for tmp in temps:
                    tmp.unlink(missing_ok=True)  # those not renamed: after an error or a signal


# -- the lock ---------------------------------------------------------------------------------------


@contextmanager
def locks(paths: list[Path], run_id: str) -> Iterator[None]:
    """Hold `X.lock` beside each of `paths` for the block; exit 2 (XxgkError) if a live run holds one."""
    held: list[tuple[Path, str]] = []
    try:
        for path in sorted({Path(os.path.abspath(p)) for p in paths}):
            held.append((lock_path(path), _acquire(lock_path(path), path, run_id)))
        yield
    finally:
        for lock, mine in reversed(held):
            _release(lock, mine)


def _acquire(lock: Path, target: Path, run_id: str) -> str:
    mine = json.dumps({"pid": os.getpid(), "started": process_token(os.getpid()), "host": socket.gethostname(),
                       "run_id": run_id}, ensure_ascii=False)
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o644)
        except FileExistsError:
            seen = _read(lock)
            if seen is None:
                continue  # gone meanwhile: try again
            holder = _parse(seen)
            if not _stale(holder, lock):
                raise XxgkError(_busy_message(holder, lock, target)) from None
            _take_over(lock, seen)
            continue
        except OSError as exc:
            raise XxgkError(f"无法创建锁文件（{exc.strerror}），未写入任何文件", path=str(lock)) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(mine)
        return mine
    raise XxgkError("无法取得锁文件：另有汇总反复抢先写入同一输出，未写入任何文件", path=str(lock))


def _read(lock: Path) -> str | None:
    try:
        return lock.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError:
        return ""


def _parse(text: str) -> dict | None:
    try:
        holder = json.loads(text)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _stale(holder: dict | None, lock: Path) -> bool:
    """Whether the run that made `lock` is gone. On another computer that cannot be told: not stale."""
    if holder is None:  # empty or garbled: being written this instant, or left over long ago
        try:
            return time.time() - lock.stat().st_mtime > UNREADABLE_LOCK_AGE
        except OSError:
            return True
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder["pid"]
    if not process_alive(pid):
        return True
    started = holder.get("started") or ""
    return bool(started) and process_token(pid) not in ("", started)  # the pid now belongs to another process


def _take_over(lock: Path, seen: str) -> None:
    """Remove a stale lock, but not a fresh one another run made after we read the stale one."""
    private = lock.with_name(f"{lock.name}.{os.getpid()}.stale")
    try:
        os.replace(lock, private)
    except FileNotFoundError:
        return  # another run took it over first
    except OSError:
        return
    if _read(private) == seen:
        private.unlink(missing_ok=True)
        return
    try:  # a new holder got in between: give its lock back, unless yet another one exists by now
        os.link(private, lock)
    except OSError:
        pass
    private.unlink(missing_ok=True)


def _release(lock: Path, mine: str) -> None:
    if _read(lock) == mine:
        lock.unlink(missing_ok=True)


def _busy_message(holder: dict | None, lock: Path, target: Path) -> str:
    if holder is None:
        who = "另一次汇总"
    else:
        where = "" if holder.get("host") == socket.gethostname() else f"，计算机 {holder.get('host')}"
        who = f"另一次汇总（进程 {holder['pid']}{where}，运行标识 {str(holder.get('run_id') or '')[:12]}）"
    return (f"{who}正在写入 {target}；本次未写入任何文件，请等它结束后再运行。"
            f"如确认没有汇总在运行，可删除锁文件 {lock}")


# -- a killed run's leftovers -----------------------------------------------------------------------


def remove_stale_temps(paths: list[Path]) -> int:
    """Delete the temporary files of `paths` (`.NAME.<random>.tmp` beside each); call only under the lock."""
    removed = 0
    for path in paths:
        folder = path.parent if str(path.parent) else Path(".")
        prefix = temp_prefix(path)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(prefix) and _TEMP_TAIL.fullmatch(entry.name[len(prefix):]):
                try:
                    if entry.is_file(follow_symlinks=False):
                        os.unlink(entry.path)
                        removed += 1
                except OSError:
                    pass
    return removed


# -- is it one set? ---------------------------------------------------------------------------------


def problems(workbook: Path, *, alone_is_fine: bool = False) -> list[str]:
    """Why the consolidation outputs at `workbook` are not one complete set, in Chinese; [] if they are.

    Also [] when there is nothing to compare: no outputs, or outputs written before run ids existed.
    `alone_is_fine`: a workbook without its manifest is fine (one sent on by itself, as to `verify`).
    """
    workbook = Path(workbook)
    manifest = manifest_path(workbook)
    wb_id = workbook_run_id(workbook) if workbook.is_file() else None
    if not manifest.is_file():
        if wb_id and not alone_is_fine:
            return [f"缺少清单文件 {manifest.name}（写出工作簿的那次汇总可能中途被终止）"]
        return []
    try:
        data = json.loads(manifest.read_bytes())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        return [f"清单文件 {manifest.name} 无法读取，不能确认与工作簿是同一次汇总的输出"]
    man_id = data.get(RUN_ID_KEY) if isinstance(data.get(RUN_ID_KEY), str) else None
    if wb_id is None and man_id is None:
        return []
    found = []
    if not workbook.is_file():
        found.append(f"清单文件 {manifest.name} 所列的工作簿 {workbook.name} 不存在")
    elif wb_id != man_id:
        found.append(f"工作簿 {workbook.name}（运行标识 {_short(wb_id)}）与清单文件 {manifest.name}"
                     f"（运行标识 {_short(man_id)}）不是同一次汇总的输出")
    outputs = data.get("outputs") if isinstance(data.get("outputs"), dict) else {}
    page = outputs.get("html")
    if isinstance(page, str) and page:
        path = manifest.parent / page
        if not path.is_file():
            found.append(f"清单文件所列的网页 {page} 不存在")
        elif (page_id := html_run_id(path)) != man_id:
            found.append(f"网页 {page}（运行标识 {_short(page_id)}）与清单文件（运行标识 {_short(man_id)}）"
                         "不是同一次汇总的输出")
    return found


def _short(run_id: str | None) -> str:
    return run_id[:12] if run_id else "无"


def workbook_run_id(path: Path) -> str | None:
    """The run id in a consolidated workbook's identity sheet; None when it has none or cannot be read."""
    from .report import load

    try:
        return run_id_of(load(path))
    except Exception:  # any reason it cannot be read means: no run id to compare
        return None


def run_id_of(report) -> str | None:
    """The run id a workbook already read carries in its identity sheet (a consolidation's); else None."""
    found = report.identity.get(RUN_ID_KEY)
    return found if isinstance(found, str) and found else None


def html_run_id(path: Path) -> str | None:
    """The run id in a consolidation web page's head; None when it has none."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return None
    m = _HTML_RUN_ID.search(head)
    return m.group(1).decode() if m else None
