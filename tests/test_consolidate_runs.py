"""One consolidation run's outputs are one set, and a killed run leaves nothing behind.

Kills land inside the write phase through the test-only hook `XXGK_TEST_PAUSE` (see
`xxgk.output.pause_for_test`): the run announces on stderr that it has stopped at a named step, the
test kills it there. No timing luck: every step is reached before the signal is sent.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

import xxgk
from conftest import example, run_cli, scaled
from xxgk.outputset import html_run_id, lock_path, problems, workbook_run_id
from xxgk.workers import WINDOWS_MAX_WORKERS, capped_jobs, process_token

HAS_PROC = Path("/proc/self/stat").exists()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "xxgk.cli", *map(str, args)]


def run(*args) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=300)  # asserts: not exit 3, not killed


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test():
    """A failing test must not leave a paused run behind (it would wait an hour)."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Started:
    """A CLI run in the background whose stderr lines can be awaited with a deadline."""

    def __init__(self, *args, env: dict | None = None):
        self.proc = subprocess.Popen(cli(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
                                     env={**os.environ, **(env or {}), "PYTHONIOENCODING": "utf-8"})
        _STARTED.append(self.proc)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout = ""
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def _drain(self) -> None:
        self.stdout = self.proc.stdout.read()

    def wait_for(self, text: str, timeout: float = 240) -> str:
        """The first stderr line containing `text`; fails if the run ends or the deadline passes first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None if time.monotonic() >= deadline else ""
            if line is None:
                self.proc.kill()
                pytest.fail(f"no {text!r} on stderr; so far: {''.join(self.stderr)}")
            self.stderr.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 240) -> int:
        code = self.proc.wait(timeout=timeout)
        try:
            while (line := self.lines.get(timeout=10)) is not None:
                self.stderr.append(line)
        except queue.Empty:  # a process it left behind still holds stderr open: the test says so next
            self.stderr.append("[stderr still open after exit]\n")
        return code


def paused(step: str, resume: Path | None = None) -> dict:
    env = {"XXGK_TEST_PAUSE": step}
    if resume is not None:
        env["XXGK_TEST_RESUME"] = str(resume)
    return env


@pytest.fixture(scope="module")
def units(tmp_path_factory) -> Path:
    """Three valid unit workbooks."""
    folder = tmp_path_factory.mktemp("units")
    base = example("made-up-qingfeng-2021")
    for i in (1, 2, 3):
        (folder / f"u{i}.xlsx").write_bytes(xxgk.fill(xxgk.from_document(scaled(base, i, f"第{i}街道（虚构）"))))
    return folder


def the_set(out: Path) -> dict[str, bytes]:
    """Every output of the set at `out` (workbook, manifest, page t.html), by name."""
    names = (out.name, out.with_suffix(".manifest.json").name, "t.html")
    return {n: (out.parent / n).read_bytes() for n in names if (out.parent / n).exists()}


def ids(out: Path) -> tuple[str | None, str | None, str | None]:
    """The run id in the workbook, in the manifest, in the page."""
    manifest = json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    return workbook_run_id(out), manifest.get("run_id"), html_run_id(out.parent / "t.html")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock", ".stale")))


def consolidate_args(units: Path, out: Path, agency: str) -> list:
    return ["consolidate", units, "-o", out, "--html", out.parent / "t.html", "--agency", agency, "-q", "--jobs", "1"]


# -- one set ----------------------------------------------------------------------------------------


def test_every_output_carries_the_run_id_and_identical_runs_give_the_same_one(units, tmp_path):
    a, b, c = (tmp_path / d / "t.xlsx" for d in "abc")
    for out, agency in ((a, "甲区"), (b, "甲区"), (c, "乙区")):
        out.parent.mkdir()
        assert run(*consolidate_args(units, out, agency)).returncode == 0
    first = ids(a)
    assert first[0] and len(set(first)) == 1  # workbook, manifest and page: one run
    assert the_set(a) == the_set(b)  # the id is the content's fingerprint: reruns stay byte-identical
    assert ids(c)[0] != first[0]  # another agency: another run
    manifest = json.loads(a.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"] == {"workbook": "t.xlsx", "html": "t.html"}
    listing = CalamineWorkbook.from_path(str(a)).get_sheet_by_name("清单").to_python()
    assert ["运行标识", first[0]] in [row[:2] for row in listing]
    assert problems(a) == []
    proc = run("verify", a)
    assert f"汇总运行标识 {first[0]}" in proc.stdout and "汇总输出不完整" not in proc.stdout


def test_verify_and_the_next_run_name_outputs_of_different_runs(units, tmp_path):
    a, b = tmp_path / "a" / "t.xlsx", tmp_path / "b" / "t.xlsx"
    for out, agency in ((a, "甲区"), (b, "乙区")):
        out.parent.mkdir()
        assert run(*consolidate_args(units, out, agency)).returncode == 0
    (a.parent / "t.html").write_bytes((b.parent / "t.html").read_bytes())  # another run's page beside it
    proc = run("verify", a)
    assert proc.returncode == 1
    assert "汇总输出不完整：网页 t.html" in proc.stdout and "不是同一次汇总的输出" in proc.stdout
    a.with_suffix(".manifest.json").write_bytes(b.with_suffix(".manifest.json").read_bytes())  # and its manifest
    proc = run("verify", a)
    assert "汇总输出不完整：工作簿 t.xlsx" in proc.stdout, proc.stdout
    proc = run(*consolidate_args(units, a, "甲区"))
    assert proc.returncode == 0
    assert "上次写出的汇总输出不是完整的一套" in proc.stdout and "不是同一次汇总的输出" in proc.stdout
    assert problems(a) == [] and len(set(ids(a))) == 1


# -- killed while writing ---------------------------------------------------------------------------


def test_a_run_killed_inside_the_write_phase_never_leaves_a_mixed_set_unnoticed(units, tmp_path):
    out = tmp_path / "out" / "t.xlsx"
    out.parent.mkdir()
    assert run(*consolidate_args(units, out, "甲区")).returncode == 0
    before = the_set(out)
    assert len(before) == 3

    # killed with half of the first temporary file written: every output is still the previous run's
    other = Started(*consolidate_args(units, out, "乙区"), env=paused("partial"))
    other.wait_for("xxgk-test-pause partial")
    other.proc.kill()
    other.finish()
    assert the_set(out) == before
    assert [n for n in leftovers(out.parent) if n.endswith(".tmp")], "the kill was not inside the write"
    assert lock_path(out).exists()  # a stale lock, taken over below

    # killed between the renames: the workbook is the new run's, manifest and page the old one's
    other = Started(*consolidate_args(units, out, "乙区"), env=paused("commit"))
    other.wait_for("xxgk-test-pause commit")
    other.proc.kill()
    other.finish()
    workbook, manifest, page = ids(out)
    assert workbook != manifest == page
    proc = run("verify", out)
    assert proc.returncode == 1 and "汇总输出不完整：工作簿 t.xlsx" in proc.stdout, proc.stdout

    # the next run tidies up, says what it found, and writes one whole set
    proc = run(*consolidate_args(units, out, "乙区"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "已删除上次中断的汇总留下的" in proc.stdout
    assert "上次写出的汇总输出不是完整的一套：工作簿 t.xlsx" in proc.stdout
    assert leftovers(out.parent) == []
    assert len(set(ids(out))) == 1 and problems(out) == []
    fresh = tmp_path / "fresh" / "t.xlsx"
    fresh.parent.mkdir()
    assert run(*consolidate_args(units, fresh, "乙区")).returncode == 0
    assert the_set(out) == the_set(fresh)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is TerminateProcess on Windows")
def test_sigterm_while_writing_stops_cleanly_and_keeps_the_previous_set(units, tmp_path):
    out = tmp_path / "out" / "t.xlsx"
    out.parent.mkdir()
    assert run(*consolidate_args(units, out, "甲区")).returncode == 0
    before = the_set(out)
    other = Started(*consolidate_args(units, out, "乙区"), env=paused("partial"))
    other.wait_for("xxgk-test-pause partial")
    other.proc.send_signal(signal.SIGTERM)
    assert other.finish() in (130, 143)
    assert "xxgk：" in "".join(other.stderr)
    assert the_set(out) == before
    assert leftovers(out.parent) == []  # its temporary files and its lock went with it


# -- two runs at once -------------------------------------------------------------------------------


def test_a_second_run_is_refused_while_another_writes_the_same_outputs(units, tmp_path):
    out = tmp_path / "out" / "t.xlsx"
    out.parent.mkdir()
    assert run(*consolidate_args(units, out, "甲区")).returncode == 0
    before = the_set(out)
    go = tmp_path / "go"
    first = Started(*consolidate_args(units, out, "乙区"), env=paused("partial", go))
    first.wait_for("xxgk-test-pause partial")
    assert the_set(out) == before  # nothing of a run is visible while it writes
    writing = [n for n in leftovers(out.parent) if n.endswith(".tmp")]
    assert writing

    second = run(*consolidate_args(units, out, "丙区"))
    assert second.returncode == 2
    assert f"另一次汇总（进程 {first.proc.pid}" in second.stderr and "正在写入" in second.stderr, second.stderr
    assert "本次未写入任何文件" in second.stderr
    assert the_set(out) == before
    assert set(writing) <= set(leftovers(out.parent))  # the live run's temporary files are not touched

    go.touch()
    assert first.finish() == 0, "".join(first.stderr)
    assert leftovers(out.parent) == []
    assert len(set(ids(out))) == 1
    assert xxgk.load(out).agency == "乙区"
    assert json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))["agency"] == "乙区"
    assert "乙区" in (out.parent / "t.html").read_text(encoding="utf-8")


def _lock(out: Path, pid: int, host: str | None = None, started: str | None = None) -> Path:
    lock = lock_path(out)
    lock.write_text(json.dumps({"pid": pid, "started": process_token(pid) if started is None else started,
                                "host": host or socket.gethostname(), "run_id": "0123456789abcdef"}), encoding="utf-8")
    return lock


def test_a_lock_whose_run_is_gone_is_taken_over_and_a_live_one_refuses(units, tmp_path):
    out = tmp_path / "out" / "t.xlsx"
    out.parent.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = [lambda: _lock(out, gone.pid),  # its process has exited
             lambda: (lock_path(out).write_text("", encoding="utf-8"), os.utime(lock_path(out), (0, 0)))]  # empty, old
    if process_token(os.getpid()):  # Linux tells processes apart by start time: a reused pid is not the holder
        stale.append(lambda: _lock(out, os.getpid(), started="1"))
    for make in stale:
        make()
        proc = run(*consolidate_args(units, out, "甲区"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not lock_path(out).exists()
    before = the_set(out)
    for host in (None, "另一台电脑"):  # a live process here; on another computer nobody can tell: refused too
        _lock(out, os.getpid(), host=host)
        proc = run(*consolidate_args(units, out, "乙区"))
        assert proc.returncode == 2 and f"进程 {os.getpid()}" in proc.stderr and "0123456789ab" in proc.stderr
        assert "锁文件" in proc.stderr
        assert the_set(out) == before and lock_path(out).exists()
    assert "计算机 另一台电脑" in proc.stderr
    lock_path(out).unlink()


def test_only_this_commands_temporary_files_are_removed(units, tmp_path):
    out = tmp_path / "out" / "t.xlsx"
    out.parent.mkdir()
    ours = [".t.xlsx.a1b2c3d4.tmp", ".t.manifest.json.zz_9abcd.tmp", ".t.html.00000000.tmp"]
    theirs = [".u.xlsx.a1b2c3d4.tmp", ".t.xlsx.note.tmp", "t.xlsx.a1b2c3d4.tmp", ".t.xlsx.a1b2c3d4.tmp.keep"]
    for name in ours + theirs:
        (out.parent / name).write_bytes(b"x")
    proc = run(*consolidate_args(units, out, "甲区"))
    assert proc.returncode == 0
    assert "已删除上次中断的汇总留下的 3 个临时文件" in proc.stdout
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(theirs + ["t.xlsx", "t.manifest.json", "t.html"])


# -- a killed roll-up leaves nothing running --------------------------------------------------------


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    """200 input files in a folder with a unique name (found again in the workers' command lines)."""
    folder = tmp_path_factory.mktemp("many") / f"inputs-{uuid.uuid4().hex}"
    folder.mkdir()
    data = xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021")))
    for i in range(200):
        (folder / f"u{i:03}.xlsx").write_bytes(data)  # the same report: reading, not summing, is what is tested
    return folder


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and (s := _stat(int(d))) and s[1] == str(pid)]


def _running(marker: str) -> list[int]:
    """Live processes whose command line names `marker` (a forked worker keeps its parent's)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{d}/cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline and (s := _stat(int(d))) and s[0] not in ("Z", "X"):
            found.append(int(d))
    return found


def _left(workers: list[int], marker: str, within: float) -> list[int]:
    """The workers still running after `within` seconds; those are then killed, so a failure leaves none."""
    deadline = time.monotonic() + within
    while True:
        alive = sorted(set(p for p in workers if (s := _stat(p)) and s[0] not in ("Z", "X")) | set(_running(marker)))
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return alive


def _killed_mid_read(many: Path, tmp_path: Path, sig: int) -> tuple[Started, list[int]]:
    proc = Started("consolidate", many, "-o", tmp_path / "t.xlsx", "--jobs", "2")  # not -q: progress on stderr
    proc.wait_for("读取并校验 ")  # the first tenth is read: the workers are busy with the rest
    workers = _children(proc.proc.pid)
    assert len(workers) == 2, workers
    proc.proc.send_signal(sig)
    return proc, workers


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to find the workers")
def test_sigkill_of_a_parallel_roll_up_leaves_no_worker_running(many, tmp_path):
    proc, workers = _killed_mid_read(many, tmp_path, signal.SIGKILL)
    code = proc.finish()
    assert _left(workers, many.name, within=15) == []
    assert code == -signal.SIGKILL
    assert not (tmp_path / "t.xlsx").exists()


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to find the workers")
def test_sigterm_of_a_parallel_roll_up_stops_the_workers_and_exits_cleanly(many, tmp_path):
    proc, workers = _killed_mid_read(many, tmp_path, signal.SIGTERM)
    code = proc.finish(timeout=60)
    assert _left(workers, many.name, within=15) == []
    assert code in (130, 143)
    stderr = "".join(proc.stderr)
    assert "xxgk：已中断" in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no lock


_ORPHANING_PARENT = r"""
import os, time
import xxgk.workers as workers
workers._set_parent_death_signal = lambda: None  # leave only the portable watchdog
with workers.pool(2) as pool:
    futures = [pool.submit(time.sleep, 600) for _ in range(2)]
    time.sleep(1)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    os._exit(0)  # gone without a word, like a killed parent
"""


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to find the workers")
def test_the_watchdog_alone_ends_workers_whose_parent_is_gone():
    marker = f"watchdog-{uuid.uuid4().hex}"
    proc = subprocess.Popen([sys.executable, "-c", f"# {marker}" + _ORPHANING_PARENT], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)  # not run(): orphans would hold its pipes open
    _STARTED.append(proc)
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert proc.wait(timeout=120) == 0
    assert len(workers) == 2, workers
    assert _left(workers, marker, within=15) == []


def test_jobs_are_capped_where_the_platform_limits_them():
    jobs, note = capped_jobs(100, platform="win32")
    assert jobs == WINDOWS_MAX_WORKERS == 61 and "--jobs 100" in note and "61" in note
    assert capped_jobs(61, platform="win32") == (61, "")
    assert capped_jobs(100, platform="linux") == (100, "")


def test_the_page_is_written_piece_by_piece_and_is_the_same_page(units, tmp_path):
    """The consolidation page goes to disk one section (one unit's findings) at a time, so a page for
    10,000 units is never held whole; the written page is byte for byte what `html_bytes` makes."""
    from xxgk.consolidate import consolidate
    from xxgk.htmlreport import html_bytes, html_chunks

    result = consolidate(sorted(units.glob("*.xlsx")))
    chunks = list(html_chunks(result))
    per_unit = [c for c in chunks if c.startswith(b'<details class="file"')]
    assert len(chunks) > 40 and per_unit and len(per_unit) == sum(1 for u in result.units if u.findings)
    assert b"".join(chunks) == html_bytes(result)
    out = tmp_path / "t.xlsx"
    assert run_cli(*consolidate_args(units, out, "甲区")).returncode == 0
    assert (tmp_path / "t.html").read_bytes() == html_bytes(consolidate(sorted(units.glob("*.xlsx")), agency="甲区"))


def test_a_page_that_fails_while_written_leaves_no_file(tmp_path):
    from xxgk.output import write_temp

    def pieces():
        yield b"<!DOCTYPE html>\n"
        raise RuntimeError("made while written")

    with pytest.raises(RuntimeError):
        write_temp(tmp_path / "t.html", pieces())
    assert list(tmp_path.iterdir()) == []
