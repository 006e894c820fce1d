"""Rolling up every unit's report into the district total, with provenance.

Every input is read and validated first (in parallel with `jobs`); a total is only made from
inputs that are valid, of one year, and each unit's once. Every rule is linear, so the fact-by-fact
sum of valid reports is itself valid: the output is the district's own report in the template,
plus a 明细 sheet (one row per unit, every fact a column) and a 清单 sheet and JSON manifest of
the inputs. A total can be an input one level up; its 明细 then shows the units under it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import stat
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import __version__
from .errors import NotAReport, XxgkError
from .findings import ByReview, Finding
from .layout import META_SHEET, load_layout
from .outputset import RUN_ID_KEY, content_id
from .report import Report, from_document, load, read_input, read_json
from .rules import load_rules, shown, value_of, whole
from .schema import load_schema
from .text import display_name, display_path, normal_name
from .totalsheets import DETAIL_HEADERS, MANIFEST_HEADER, MANIFEST_KEYS
from .validate import validate
from .workbook import DETAIL_SHEET
from .workers import capped_jobs
from .workers import pool as worker_pool

MAX_DETAIL_CELLS = 25_000_000  # a province's 明细: 100,000 units x 211 columns is about 21 million
MANIFEST_SHEET = "清单"
SUFFIXES = (".xlsx", ".json")
# the row a consolidation writes into its identity sheet: a total knows it is one, whatever its file is called
TOTAL_MARK = ("kind", "consolidation")
DETAIL_KEYS = ("level", "agency", "agency_code", "file", "sha256", "status")  # the 明细 columns before the facts
# the 明细 columns after the facts: each unit's warnings, explained (with the 复核说明) and open (see `review`)
REVIEW_KEYS = ("warnings_explained", "warnings_open", "explanations", "open_warnings")
REVIEW_LABELS = ("已说明的警告（处）", "未说明的警告（处）", "已说明的警告及说明", "未说明的警告")
MAX_LEVEL = 20  # 明细 levels: unit, district, city, province… far below this
MAX_MANIFEST_BYTES = 512 * 2**20  # a previous manifest is read whole to recognise it

# statuses of an input
VALID, INVALID, UNREADABLE, DUPLICATE, OTHER_YEAR = "valid", "invalid", "unreadable", "duplicate", "other-year"
STATUS_LABEL = {VALID: "通过", INVALID: "有错误", UNREADABLE: "无法读取", DUPLICATE: "重复", OTHER_YEAR: "年度不符"}


@dataclass
class Unit(ByReview):
    """One input file and what became of it."""

    path: str
    sha256: str = ""
    status: str = UNREADABLE
    agency: str = ""
    agency_code: str = ""
    year: Any = None
    values: tuple = ()  # the numeric facts, in `numeric_facts()` order (None where absent): compact for 10,000 units
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""  # why it is not used, in Chinese
    finalised: str = ""  # 已定稿 / 定稿后被修改 / 未定稿 (workbooks only)
    sources: list[dict] = field(default_factory=list)  # the 明细 rows of an input that is itself a total
    explained: dict[str, str] = field(default_factory=dict)  # fingerprint -> 复核说明, for its explained warnings
    local_rules: tuple = ()  # the local rule files its workbook carries: localrules.summary of each

    @property
    def used(self) -> bool:
        return self.status == VALID

    @property
    def facts(self) -> dict[str, Any]:
        return {f: v for f, v in zip(numeric_facts(), self.values, strict=False) if v is not None}


def review_cells(unit: Unit) -> list[Any]:
    """A unit's REVIEW_KEYS cells on the 明细 sheet: counts, then the warnings, each in [brackets] and
    separated by "；" (one line: the sheet's cells do not wrap)."""
    if not unit.findings:
        return [0, 0, None, None] if unit.status in (VALID, INVALID) else [None] * len(REVIEW_KEYS)
    explained = "；".join(f"[{f.rule}；{'、'.join(f.cells[:4])}] {f.message} —— 说明：{unit.explained[f.fingerprint]}"
                          for f in unit.explained_warnings)
    open_ = "；".join(f"[{f.rule}；{'、'.join(f.cells[:4])}；指纹 {f.fingerprint}] {f.message}" for f in unit.open_warnings)
    return [len(unit.explained_warnings), len(unit.open_warnings), _cell_text(explained), _cell_text(open_)]


def _cell_text(text: str, limit: int = 32_000) -> str | None:
    """At most what a spreadsheet cell holds (32,767 characters), saying so when cut."""
    if len(text) <= limit:
        return text or None
    return text[:limit] + "…（过长，其余见 xxgk validate）"


@dataclass
class Consolidation:
    units: list[Unit]
    year: Any
    agency: str
    totals: dict[str, Any]
    missing: list[str] = field(default_factory=list)  # roster units without a file
    unknown: list[str] = field(default_factory=list)  # files whose unit is not on the roster
    allow_invalid: bool = False
    warnings: list[str] = field(default_factory=list)  # e.g. two files with the same figures: people must look
    # with consolidate(year=…): files of other years found among the inputs, {year: files}; they are not
    # inputs of this total (not in `units`), so they do not make it incomplete
    other_years: dict[int, list[str]] = field(default_factory=dict)
    blank: list[str] = field(default_factory=list)  # with year=…: unfilled templates (no year, no agency), left out
    local: tuple = ()  # the local rule files given (--rules): localrules.summary of each

    @property
    def used(self) -> list[Unit]:
        return [u for u in self.units if u.used]

    @property
    def excluded(self) -> list[Unit]:
        return [u for u in self.units if not u.used]

    @property
    def complete(self) -> bool:
        return not self.excluded

    @property
    def writable(self) -> bool:
        return bool(self.used) and (self.complete or self.allow_invalid)

    def report(self) -> Report:
        return from_document(load_schema().nest(self.totals))


# -- finding the inputs ------------------------------------------------------------------------------


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Files given, and .xlsx/.json files under folders given (recursively); each file once, sorted."""
    found: dict[Path, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if (child.is_file() and child.suffix.lower() in SUFFIXES and not child.name.startswith(("~$", "."))
                        and not is_manifest(child)):  # our own manifests are not reports (a report so named is)
                    found.setdefault(child.resolve(), child)
        elif path.exists():
            found.setdefault(path.resolve(), path)
        else:
            raise XxgkError("输入文件或文件夹不存在", path=str(path))
    return sorted(found.values(), key=lambda p: str(p))


def is_manifest(path: Path) -> bool:
    """Is this a manifest an earlier consolidation wrote? Told by its content: JSON naming xxgk as its
    tool and listing its inputs. Only files named *.manifest.json are opened."""
    if not path.name.lower().endswith(".manifest.json"):
        return False
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
            return False
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return False
    return (isinstance(data, dict) and isinstance(data.get("tool"), str) and data["tool"].startswith("xxgk ")
            and isinstance(data.get("inputs"), list))


def is_total_workbook(path: Path) -> bool:
    """Is this a workbook an earlier consolidation wrote? A report in the template that also carries
    the 明细 and 清单 sheets (its identity sheet, `_xxgk`, is required to read it at all)."""
    try:
        report = load(path)
    except Exception:  # anything it is, it is not one of ours
        return False
    return {DETAIL_SHEET, MANIFEST_SHEET, META_SHEET} <= set(report.sheet_names)


# what every consolidation web page carries near its top (see htmlreport.html_bytes)
HTML_MARKS = (b"<!DOCTYPE html>", b'<p class="meta">', "由 xxgk ".encode(), '<h2 id="h-units">各单位报送及校验情况</h2>'.encode())


def is_consolidation_html(path: Path) -> bool:
    """Is this a page an earlier consolidation wrote (`--html`)? Told by the marks its top carries."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256 * 1024)
    except OSError:
        return False
    return head.startswith(HTML_MARKS[0]) and all(mark in head for mark in HTML_MARKS[1:])


def _file_keys(path: Path) -> set[tuple]:
    """What makes two paths one file: the same real path, or (existing files) the same inode (a hard link)."""
    keys: set[tuple] = {("path", os.path.normcase(os.path.realpath(path)))}
    try:
        info = os.stat(path)
        keys.add(("inode", info.st_dev, info.st_ino))
    except OSError:
        pass
    return keys


def check_outputs(output: Path, html: Path | None, inputs: Iterable[Path]) -> None:
    """Refuse (exit 2), before anything is read or written, outputs that would destroy something: an
    output that is an input, two outputs of this run on one file, or an existing file at an output
    path that is not what an earlier consolidation wrote there (a unit's report, a page of someone's)."""
    outputs: list[tuple[str, Path, Callable[[Path], bool]]] = [
        ("汇总工作簿", Path(output), is_total_workbook),
        ("清单文件（.manifest.json）", Path(output).with_suffix(".manifest.json"), is_manifest),
    ]
    if html is not None:
        if Path(html).suffix.lower() not in (".html", ".htm"):
            raise XxgkError("--html 的输出应为 .html 文件", path=display_path(html))
        outputs.append(("汇总网页（--html）", Path(html), is_consolidation_html))
    for i, (what, path, _) in enumerate(outputs):
        for earlier, other, _ in outputs[:i]:
            if _file_keys(path) & _file_keys(other):
                raise XxgkError(f"{earlier}和{what}是同一个文件，后写的会覆盖先写的；请给它们不同的文件名，未运行汇总",
                                path=display_path(path))
    sources = {key: source for source in inputs for key in _file_keys(Path(source))}
    for what, path, _ in outputs:
        clash = next((sources[k] for k in sorted(_file_keys(path)) if k in sources), None)
        if clash is not None:
            raise XxgkError(f"{what}的输出路径就是输入文件 {display_path(clash)}，写出汇总会覆盖它；"
                            "请把汇总写到输入文件夹以外，或换一个文件名，未运行汇总", path=display_path(path))
    for what, path, recognise in outputs:
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise XxgkError(f"{what}所在的文件夹不存在", path=display_path(folder))
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise XxgkError(f"无法检查{what}的输出路径（{exc.strerror}）", path=display_path(path)) from None
        if stat.S_ISDIR(info.st_mode):
            raise XxgkError(f"{what}的输出路径是一个文件夹，请给出文件名", path=display_path(path))
        if not stat.S_ISREG(info.st_mode) or not recognise(path):
            raise XxgkError(f"{what}的输出路径上已有一个文件，它不是本工具此前汇总时写出的{what}；为免覆盖别的文件，"
                            "未运行汇总。请换一个文件名，或确认该文件无用后先移走它", path=display_path(path))


# -- reading one input (runs in a worker process) ----------------------------------------------------


class _Refused(Exception):
    """One input cannot be used, for the reason given (Chinese): it becomes that file's 无法读取 line."""


def check(path: str, local: tuple[dict, ...] = ()) -> Unit:
    """Read and validate one input. Never raises: whatever goes wrong with one file (reading it, validating,
    its finalise stamp, the 明细 of a lower-level total) becomes that file's own 无法读取 line, so one
    strange file never takes the batch down. `local`: local rule files (--rules), applied with those the
    workbook carries."""
    unit = Unit(path=path)
    step = "读取"
    try:
        data = read_input(Path(path))
        unit.sha256 = hashlib.sha256(data).hexdigest()
        report = _parse(Path(path), data, unit.sha256)
        facts = report.facts
        unit.values = tuple(facts.get(f) for f in numeric_facts())
        unit.agency = str(facts.get("agency") or "")
        unit.agency_code = str(facts.get("agency_code") or "")
        unit.year = facts.get("year")
        step = "校验"
        validated = validate(report, local=local)
        unit.findings, unit.explained = validated.findings, dict(validated.explained)
        from .localrules import carried

        unit.local_rules = carried(report.identity)
        workbook = path.lower().endswith((".xlsx", ".xlsm"))
        if workbook:
            from .finalize import finalised_state

            step = "核对定稿信息（docProps/custom.xml）"
            unit.finalised = finalised_state(report, data)
        unit.status = VALID if not unit.errors else INVALID
        if unit.status == INVALID:
            unit.reason = f"{len(unit.errors)} 处错误"
        step = "读取“明细”工作表"
        if workbook and _is_total(report):  # an input that is itself a total: the units inside it
            rows, cols = report.sheet_sizes.get(DETAIL_SHEET, (0, 0))
            if rows * cols > MAX_DETAIL_CELLS:
                raise _Refused(f"“明细”工作表异常大（{rows:,} 行 × {cols:,} 列）")
            unit.sources = _detail_rows(data)
            if unit.status == VALID:  # an invalid one is left out anyway, for its errors
                _check_detail_sums(unit)
    except NotAReport as exc:
        _unreadable(unit, exc.message)
    except _Refused as exc:
        _unreadable(unit, f"这是一份汇总表，但{exc}，无法确认其中已含哪些单位，未计入" if step == "读取“明细”工作表"
                    else str(exc))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # whatever the file holds, it is this file's problem, never the batch's
        # BaseException: a Rust panic inside python-calamine arrives as pyo3's PanicException, not an Exception
        _unreadable(unit, f"{step}时出错（{type(exc).__name__}），未计入；如果文件本身没有问题，这可能是本工具的缺陷，"
                    "请连同该文件报告")
    return unit


def _unreadable(unit: Unit, reason: str) -> None:
    unit.status, unit.reason, unit.sources = UNREADABLE, reason, []


def _parse(path: Path, data: bytes, sha256: str | None = None) -> Report:
    """The report in these very bytes (the ones hashed), not in a second read of the file."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_json(path, data)
    if suffix in (".xlsx", ".xlsm"):
        from .workbook import read

        return read(path, data, sha256)
    return load(path)  # not a report file: load says in Chinese what it is


def _is_total(report: Report) -> bool:
    """Was this workbook written by a consolidation? Its identity sheet says so (the mark written at
    consolidation), or it still has a consolidation's 明细/清单 sheet; the file name plays no part."""
    return bool({DETAIL_SHEET, MANIFEST_SHEET} & set(report.sheet_names)) or (
        str(report.identity.get(TOTAL_MARK[0])) == TOTAL_MARK[1])


def total_sheets(report: Report, data: bytes) -> dict[str, list[list[Any]]]:
    """The 明细 and 清单 sheets of a total, as values ({} for a unit's report): what a copy of the total
    (the finalised submission copy) carries so that it is still known for a total and which units it holds."""
    if report.path is None or report.path.suffix.lower() not in (".xlsx", ".xlsm") or not _is_total(report):
        return {}
    rows, cols = report.sheet_sizes.get(DETAIL_SHEET, (0, 0))
    if rows * cols > MAX_DETAIL_CELLS:
        raise NotAReport(f"“明细”工作表异常大（{rows:,} 行 × {cols:,} 列），已拒绝", path=display_path(report.path))
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {title: [[whole(v) for v in row] for row in book.get_sheet_by_name(title).to_python()]
            for title in (DETAIL_SHEET, MANIFEST_SHEET) if title in book.sheet_names}


def _text(value: Any) -> str:
    value = whole(value)  # a code typed as a number
    return "" if value is None else str(value)


def _detail_rows(data: bytes) -> list[dict]:
    """The units listed on the 明细 sheet of an input that is itself a total, checked row by row:
    _Refused when the sheet is missing, lacks columns, or holds a level or a figure that is not one."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    if DETAIL_SHEET not in book.sheet_names:
        raise _Refused("没有“明细”工作表")
    rows = book.get_sheet_by_name(DETAIL_SHEET).to_python()
    ids = [_text(v).strip() for v in rows[0]] if rows else []
    facts = numeric_facts()
    missing = [k for k in (*DETAIL_KEYS, *facts) if k not in ids]
    if missing:
        raise _Refused(f"“明细”工作表缺少 {len(missing)} 列（如第 1 行的“{missing[0]}”）")
    schema = load_schema()
    out = []
    for n, row in enumerate(rows[2:], 3):
        record = dict(zip(ids, row, strict=False))
        level, file = record.get("level"), record.get("file")
        if level in ("", None) and file in ("", None):
            continue  # the total row
        if not (value_of(level) is not None and float(level).is_integer() and 1 <= level <= MAX_LEVEL):
            raise _Refused(f"“明细”第 {n} 行的层级「{_text(level)[:20]}」不是 1 到 {MAX_LEVEL} 的整数")
        if file in ("", None):
            raise _Refused(f"“明细”第 {n} 行没有来源文件")
        source: dict[str, Any] = {k: _text(record.get(k)) for k in DETAIL_KEYS}
        source["level"] = int(level)
        source.update({k: record[k] for k in REVIEW_KEYS if record.get(k) not in ("", None)})  # a lower total's
        for fact_id in facts:
            value = record.get(fact_id)
            if value in ("", None):
                value = None
            elif value_of(value) is None:
                raise _Refused(f"“明细”第 {n} 行「{schema.describe(fact_id)}」的值「{_text(value)[:20]}」不是数字")
            source[fact_id] = value
        out.append(source)
    if not out:
        raise _Refused("“明细”工作表中没有任何单位")
    return out


def _counted(source: dict) -> bool:
    """Was this 明细 row added into the total that lists it? Only rows marked 通过 were."""
    return str(source.get("status", "")).startswith(STATUS_LABEL[VALID])


def _check_detail_sums(unit: Unit) -> None:
    """A total's 明细 must add up to the total itself (its own column sums, level 1 rows marked 通过):
    else it was edited, and cannot be trusted to say which units the total holds."""
    schema = load_schema()
    counted = [s for s in unit.sources if s["level"] == 1 and _counted(s)]
    for fact_id, own in zip(numeric_facts(), unit.values, strict=False):
        own = own if value_of(own) is not None else 0
        listed = sum(s[fact_id] or 0 for s in counted)
        if not math.isclose(listed, own, rel_tol=1e-9, abs_tol=1e-5):
            raise _Refused(f"“明细”中计入的各单位之和与本表不符（{schema.describe(fact_id)}：明细合计 {shown(listed)}，"
                           f"本表 {shown(own)}），“明细”可能被改动过")


# -- the roll-up -------------------------------------------------------------------------------------


def consolidate(paths: list[Path], *, agency: str | None = None, roster: Path | None = None,
                allow_invalid: bool = False, jobs: int = 1,
                progress: Callable[[int, int], None] | None = None, year: int | None = None,
                local: tuple[dict, ...] = ()) -> Consolidation:
    """Read, validate and sum the inputs; decide which may be used (see module doc).

    `local`: checked local rule files (--rules), applied to every input on top of the rules it carries.

    `year` picks one year from inputs of several: a readable report of another year is then not an
    input of this total at all (listed in `other_years`, not in `units`, so the total stays complete);
    a file whose year cannot be read stays an input, refused, since it may be of that year, except an
    unfilled template (neither year nor agency filled), which is left out too (listed in `blank`)."""
    if not paths:
        raise XxgkError("没有找到任何 .xlsx 或 .json 报告文件")
    names = [str(p) for p in paths]
    units: list[Unit] = []
    shared: dict = {}  # one copy of what repeats across units (see `_compact`)
    jobs, note = capped_jobs(jobs)
    if note:
        print(f"xxgk：{note}", file=sys.stderr)
    if jobs > 1 and len(names) > 1:
        with worker_pool(min(jobs, len(names))) as pool:  # workers die with this process (see workers.py)
            for i, unit in enumerate(pool.map(partial(check, local=tuple(local)), names, chunksize=max(1, min(64, len(names) // (jobs * 8)))), 1):
                units.append(_compact(unit, shared))
                if progress:
                    progress(i, len(names))
    else:
        for i, name in enumerate(names, 1):
            units.append(_compact(check(name, tuple(local)), shared))
            if progress:
                progress(i, len(names))
    other_years: dict[int, list[str]] = {}
    blank: list[str] = []
    if year is not None:
        kept = []
        for unit in units:
            if unit.status in (VALID, INVALID) and isinstance(unit.year, int) and unit.year != year:
                other_years.setdefault(unit.year, []).append(unit.path)
            elif unit.status in (VALID, INVALID) and unit.year is None and not unit.agency and not unit.sources:
                blank.append(unit.path)
            else:
                kept.append(unit)
        if not any(u.status in (VALID, INVALID) and u.year == year for u in kept):
            found = "、".join(f"{y} 年 {len(v)} 个" for y, v in sorted(other_years.items())) or "没有可读的报告"
            raise XxgkError(f"输入中没有 {year} 年的报告（{found}）")
        units = kept
    else:
        year = _common_year(units)
    warnings = _refuse_duplicates_and_other_years(units, year)
    used = [u for u in units if u.used]
    totals = _sum(used, year, agency or f"汇总（{len(used)} 个单位）")
    from .localrules import summary

    result = Consolidation(units, year, totals["agency"], totals, allow_invalid=allow_invalid, warnings=warnings,
                           other_years=other_years, blank=blank, local=tuple(summary(raw) for raw in local))
    if roster is not None:
        result.missing, result.unknown = _compare_roster(read_roster(roster), units)
    return result


def _compact(unit: Unit, shared: dict) -> Unit:
    """The unit with one shared copy of the texts and tuples that repeat across units (statuses, rule ids,
    the fact ids and cell references of findings): a unit arriving from a worker brings its own copies,
    and 10,000 units' findings name the same few hundred cells."""
    def one(value):
        return shared.setdefault(value, value)

    unit.status, unit.finalised, unit.local_rules = one(unit.status), one(unit.finalised), one(unit.local_rules)
    if unit.findings:
        unit.findings = [replace(f, rule=one(f.rule), severity=one(f.severity), facts=one(f.facts), cells=one(f.cells),
                                 issuer=one(f.issuer)) for f in unit.findings]  # every other field kept as it is
    return unit


def _common_year(units: list[Unit]) -> Any:
    years = Counter(u.year for u in units if u.status in (VALID, INVALID) and isinstance(u.year, int))
    if not years:
        return None
    (year, n), *rest = years.most_common()
    if rest and rest[0][1] == n:
        raise XxgkError(f"输入文件的年度不一致且无法判断以哪一年为准：{'、'.join(str(y) for y, _ in years.most_common())}")
    return year


def _refuse_duplicates_and_other_years(units: list[Unit], year: Any) -> list[str]:
    """Leave out (naming the file kept) inputs of another year, copies, a unit's second file, totals that
    already hold other inputs, and a unit's figures filed again under a longer or shorter name.
    Returns the warnings about what looks alike but is not refused."""
    seen_hash: dict[str, Unit] = {}
    seen_unit: dict[str, Unit] = {}
    for unit in units:
        if unit.status not in (VALID, INVALID):
            continue
        if unit.year != year:
            shown = "未填年度" if unit.year is None else f"年度为 {unit.year}"
            unit.status, unit.reason = OTHER_YEAR, shown + (f"，其他文件为 {year} 年" if year is not None else "")
            continue
        first = seen_hash.get(unit.sha256)
        if first:
            unit.status, unit.reason = DUPLICATE, f"与 {display_name(first.path)} 内容完全相同"
            continue
        seen_hash[unit.sha256] = unit
        keys = _identity_keys(unit.agency, unit.agency_code)
        clash = next((seen_unit[k] for k in keys if k in seen_unit), None)
        if clash:
            unit.status, unit.reason = DUPLICATE, f"与 {display_name(clash.path)} 是同一单位（{clash.agency}）"
            continue
        for key in keys:
            seen_unit[key] = unit
    _refuse_totals_holding_inputs(units)
    return _refuse_same_figures(units)


def _identity_keys(agency: str, code: str, sha256: str = "") -> set[str]:
    """How a unit is recognised however its name or code was typed (see text.normal_name)."""
    keys = {f"name:{normal_name(agency)}", f"code:{normal_name(code)}", f"sha:{sha256.strip().lower()}"}
    return {k for k in keys if not k.endswith(":")}


def _active(unit: Unit) -> bool:
    return unit.status in (VALID, INVALID)


def _refuse_totals_holding_inputs(units: list[Unit]) -> None:
    """A total (an input with a 明细) that already holds another input of this run is left out, naming them.

    What a total holds: every 明细 row marked 通过, at every level, known by SHA-256, name and code.
    Another input is inside it when its own file, name or code is among those (last year's total of
    these very units, or a city total next to one of its districts); two totals overlap when they hold
    a file or a code in common (names alone are not enough between totals: two districts may each
    have a 城关镇). A total none of whose units is an input is a lower level, and is summed.
    The total holding most is looked at first, so of a city total and its district the city goes.
    """
    held = {id(u): set().union(*(_identity_keys(s["agency"], s["agency_code"], s["sha256"])
                                  for s in u.sources if _counted(s)))
            for u in units if _active(u) and u.sources}
    if not held:
        return
    own = {id(u): _identity_keys(u.agency, u.agency_code, u.sha256) for u in units if _active(u)}
    held_files = {key: {k for k in keys if not k.startswith("name:")} for key, keys in held.items()}
    for total in sorted((u for u in units if id(u) in held), key=lambda u: (-len(held[id(u)]), u.path)):
        if not _active(total):
            continue
        inside = held[id(total)]
        hits = [u for u in units if u is not total and _active(u) and (
            own[id(u)] & inside or held_files.get(id(u), set()) & inside)]
        if hits:
            shown = "、".join(f"{display_name(u.path)}（{u.agency}）" for u in hits[:10])
            more = f" 等 {len(hits)} 个文件" if len(hits) > 10 else ""
            total.status = DUPLICATE
            total.reason = (f"已包含：这是一份汇总表，其中已含本次输入中的 {shown}{more}，再相加会重复计算；"
                            "如是旧的汇总表，请移出输入文件夹")


def _nested(a: str, b: str) -> bool:
    a, b = normal_name(a), normal_name(b)
    return bool(a) and bool(b) and a != b and (a in b or b in a)


def _refuse_same_figures(units: list[Unit]) -> list[str]:
    """Two files with every figure the same (not all zero) are one unit's report filed twice when one
    name contains the other (鹿山街道 / 富阳区鹿山街道): the later is left out. Under unrelated names it
    may be chance between two small units, so it is only a warning naming both files. All-zero reports
    add nothing, so they are left alone."""
    warnings: list[str] = []
    groups: dict[tuple, list[Unit]] = {}
    for unit in units:
        if _active(unit) and not unit.sources and any(v not in (None, 0) for v in unit.values):
            try:
                groups.setdefault(tuple(unit.values), []).append(unit)
            except TypeError:  # an unhashable value: cannot be compared this way
                continue
    for group in groups.values():
        kept: list[Unit] = []
        for unit in group:
            same = next((k for k in kept if _nested(k.agency, unit.agency)), None)
            if same is not None:
                unit.status = DUPLICATE
                unit.reason = (f"与 {display_name(same.path)}（{same.agency}）的全部数字相同，单位名称一个包含另一个，"
                               "应是同一单位报送了两次")
                continue
            for other in kept:
                warnings.append(f"{display_name(other.path)}（{other.agency}）与 {display_name(unit.path)}（{unit.agency}）"
                                "的全部数字相同，请核实是否同一单位报送了两次")
            kept.append(unit)
    return warnings


def _sum(units: list[Unit], year: Any, agency: str) -> dict[str, Any]:
    schema = load_schema()
    totals: dict[str, Any] = {"format": "2021", "agency": agency, "year": year}
    for i, fact_id in enumerate(numeric_facts()):
        present = [u.values[i] for u in units if u.values[i] is not None]
        if not present and not schema.facts[fact_id].required:
            continue
        total = sum(present) if present else 0
        totals[fact_id] = round(total, 6) if isinstance(total, float) else total
    received = totals.get("applications.received.total")
    totals["texts.overview"] = (f"本报告为{agency}{year}年度政府信息公开工作年度报告的汇总数据，由 {len(units)} 个单位的报告"
                                f"逐项相加生成（各单位见“明细”工作表）。全年共收到政府信息公开申请{received}件。")
    totals["texts.problems"] = "（汇总数据：本部分请由汇总单位填写。）"
    totals["texts.other_matters"] = "（汇总数据：本部分请由汇总单位填写。）"
    return totals


# -- the roster --------------------------------------------------------------------------------------


# Header words, compared after normal_name. A row with any of them in any cell is the header row.
ROSTER_NAME_HEADERS = {"name", "名称", "单位", "单位名称", "机关名称", "机关", "部门", "部门名称", "单位全称"}
ROSTER_CODE_HEADERS = {"code", "代码", "机关代码", "单位代码", "统一社会信用代码", "社会信用代码", "信用代码"}
ROSTER_CREDIT_HEADERS = {"统一社会信用代码", "社会信用代码", "信用代码"}  # a column held to GB 32100-2015
ROSTER_PARENT_HEADERS = {"parent", "上级", "上级单位", "上级机关", "主管单位", "主管部门"}
ROSTER_NUMBER_HEADERS = {"序号", "编号", "no", "no.", "#", "序"}
ROSTER_HEADERS = ROSTER_NAME_HEADERS | ROSTER_CODE_HEADERS | ROSTER_PARENT_HEADERS | ROSTER_NUMBER_HEADERS

# 统一社会信用代码 (GB 32100-2015): 18 characters from 31 (no I, O, S, V, Z); the last is a check character
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_problem(code: str) -> str | None:
    """Why `code` is not a well-formed 统一社会信用代码 (in Chinese), or None when it is."""
    if len(code) != 18:
        return f"应为 18 个字符，实际为 {len(code)} 个"
    bad = sorted({ch for ch in code if ch not in CREDIT_CODE_ALPHABET})
    if bad:
        return f"含有不允许的字符「{''.join(bad)}」（只能是数字和除 I、O、S、V、Z 以外的大写字母）"
    total = sum(CREDIT_CODE_ALPHABET.index(ch) * w for ch, w in zip(code, _CREDIT_CODE_WEIGHTS))
    check = CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]
    if code[17] != check:
        return f"校验码不符（按前 17 位，最后一位应为 {check}）"
    return None


def _numbering(cells: list[str]) -> bool:
    """A column of row numbers 1, 2, 3… (exactly: a column of codes that happen to be digits is kept)."""
    return bool(cells) and all(c.isascii() and c.isdigit() for c in cells) and [int(c) for c in cells] == list(
        range(1, len(cells) + 1))


def roster_rows(path: Path, second: str = "code") -> list[list[str]]:
    """The rows of a roster CSV as [name, second, …], cells stripped, header row and empty rows left
    out. UTF-8 or GB18030 (as Excel on a Chinese Windows saves CSV); a Chinese XxgkError when it cannot
    be read or is empty.

    The usual layout `序号,单位名称,统一社会信用代码` works as well as `名称[,代码]`: a row with a known
    header word in any cell is the header, and then the name column and the `second` column ("code"
    for 机关代码/统一社会信用代码, "parent" for 上级) are found by their titles; a numbering column (titled
    序号, or without a header a column of 1, 2, 3…) is left out. Codes in a column titled
    统一社会信用代码 are checked (18 characters, alphabet, check character); a malformed one is refused
    with its line in the file named."""
    try:
        raw = read_input(Path(path))
    except NotAReport as exc:
        raise XxgkError(f"无法读取单位名单（{exc.message}）", path=display_path(path)) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise XxgkError("单位名单不是 UTF-8 或 GBK 编码的 CSV", path=display_path(path))
    reader = csv.reader(io.StringIO(text))
    lines: list[tuple[int, list[str]]] = []  # (line in the file, cells)
    for r in reader:
        cells = [c.strip() for c in r]
        if any(cells):
            lines.append((reader.line_num, cells))
    header: list[str] | None = None
    if lines and any(normal_name(c) in ROSTER_HEADERS for c in lines[0][1]):
        header = [normal_name(c) for c in lines[0][1]]
        lines = lines[1:]
    width = max((len(cells) for _, cells in lines), default=0)
    columns = [[cells[i] if i < len(cells) else "" for _, cells in lines] for i in range(width)]
    titles = (header or []) + [""] * max(0, width - len(header or []))

    def titled(words: set[str]) -> int | None:
        return next((i for i, t in enumerate(titles) if t in words), None)

    numbering = {i for i, t in enumerate(titles) if t in ROSTER_NUMBER_HEADERS}
    if header is None and width > 1:
        numbering = {i for i in range(width) if _numbering(columns[i])}
        if len(numbering) == width:
            numbering = set()
    name_col = titled(ROSTER_NAME_HEADERS) if header else None
    if name_col is None:
        name_col = next((i for i in range(width) if i not in numbering), 0)
    second_words = ROSTER_PARENT_HEADERS if second == "parent" else ROSTER_CODE_HEADERS
    second_col = titled(second_words) if header else None
    if second_col is None:
        others = ROSTER_HEADERS - ROSTER_NAME_HEADERS
        second_col = next((i for i in range(width) if i != name_col and i not in numbering
                           and (titles[i] not in others)), None)
    order = [name_col] + ([second_col] if second_col is not None else [])
    order += [i for i in range(width) if i not in order and i not in numbering]
    credit = second_col is not None and titles[second_col] in ROSTER_CREDIT_HEADERS
    rows = []
    for line, cells in lines:
        row = [cells[i] if i < len(cells) else "" for i in order]
        if not row or not row[0]:
            continue
        if credit and len(row) > 1 and row[1]:
            problem = credit_code_problem(row[1])
            if problem:
                raise XxgkError(f"单位名单第 {line} 行「{row[0]}」的统一社会信用代码「{row[1]}」{problem}，"
                                "请改正后再运行", path=display_path(path))
        rows.append(row)
    if not rows:
        raise XxgkError("单位名单是空的", path=display_path(path))
    return rows


def read_roster(path: Path) -> list[tuple[str, str]]:
    """(name, code) pairs from a CSV of `name[,code]`."""
    return [(r[0], r[1] if len(r) > 1 else "") for r in roster_rows(path)]


def _compare_roster(roster: list[tuple[str, str]], units: list[Unit]) -> tuple[list[str], list[str]]:
    present = [u for u in units if u.status in (VALID, INVALID, DUPLICATE)]
    names = {normal_name(u.agency) for u in present}
    codes = {normal_name(u.agency_code) for u in present} - {""}
    missing = [name for name, code in roster if not ((normal_name(code) in codes) or normal_name(name) in names)]
    roster_names = {normal_name(n) for n, _ in roster}
    roster_codes = {normal_name(c) for _, c in roster} - {""}
    unknown = [f"{u.agency}（{display_name(u.path)}）" for u in present
               if normal_name(u.agency) not in roster_names and normal_name(u.agency_code) not in roster_codes]
    return missing, unknown


# -- the outputs -------------------------------------------------------------------------------------


def manifest(result: Consolidation, outputs: dict[str, str] | None = None) -> dict:
    """What went in, with hashes, and what came of each input; no clock time, so reruns are identical.

    Led by the run id (see `run_id`); `outputs` (see `outputset.OutputSet.listing`) names the set's files.
    """
    content = _manifest_content(result)
    return {RUN_ID_KEY: content_id(content), **content, **({"outputs": outputs} if outputs else {})}


def run_id(result: Consolidation) -> str:
    """The id in every output of this run: a fingerprint of its content, so reruns stay byte-identical."""
    return content_id(_manifest_content(result))


def _manifest_content(result: Consolidation) -> dict:
    return {
        "tool": f"xxgk {__version__}",
        "ruleset": load_rules().version,
        "template": load_layout().fingerprint()[:12],
        "agency": result.agency,
        "year": result.year,
        "complete": result.complete,
        "allow_invalid": result.allow_invalid,
        "inputs": [
            {"path": display_path(u.path), "sha256": u.sha256, "agency": u.agency, "agency_code": u.agency_code, "year": u.year,
             "status": u.status, "used": u.used, "reason": u.reason, "finalised": u.finalised, "errors": len(u.errors),
             "warnings": len(u.findings) - len(u.errors), "units_inside": len(u.sources)}
            for u in result.units
        ],
        "roster": {"missing": result.missing, "unknown": result.unknown},
        "warnings": result.warnings,
        # only when --year left files out: earlier manifests (and their run ids) stay as they were
        **({"other_years": {str(y): [display_path(p) for p in v] for y, v in sorted(result.other_years.items())}}
           if result.other_years else {}),
        **({"blank_templates": [display_path(p) for p in result.blank]} if result.blank else {}),
        # only when local rules were applied: a run without them keeps the run id it had before there were any
        **({"local_rules": local_rules(result)} if local_rules(result) else {}),
    }


def local_rules(result: Consolidation) -> list[dict]:
    """The local rule files applied: given (--rules), then those the inputs carry, each once, with how many
    inputs carry it (`units`); by SHA-256 of the canonical content, so the same rules count once."""
    given = {s[0]: s for s in result.local}
    carried: dict[str, tuple] = {}
    counts: dict[str, int] = {}
    for unit in result.units:
        for s in unit.local_rules:
            carried.setdefault(s[0], s)
            counts[s[0]] = counts.get(s[0], 0) + 1
    order = list(given) + sorted((k for k in carried if k not in given), key=lambda k: (str(carried[k][1]), k))
    out = []
    for sha in order:
        _, issuer, year, rules = given.get(sha) or carried[sha]
        out.append({"issuer": issuer, "year": year, "rules": rules, "sha256": sha, "given": sha in given,
                    "units": counts.get(sha, 0)})
    return out


@cache
def numeric_facts() -> tuple[str, ...]:
    """The facts a roll-up adds up (every count and amount), in the schema's order."""
    return tuple(f.id for f in load_schema() if f.numeric and f.id != "year")


def detail_rows(result: Consolidation) -> Iterator[list[Any]]:
    """The 明细 sheet: fact ids, labels, then one row per input (and the units inside a total), then the total."""
    schema = load_schema()
    facts = list(numeric_facts())
    head = ["level", "agency", "agency_code", "file", "sha256", "status"]
    yield head + facts + list(REVIEW_KEYS)
    yield [DETAIL_HEADERS[k] for k in head] + [schema.describe(f) for f in facts] + list(REVIEW_LABELS)
    for unit in result.units:
        label = STATUS_LABEL[unit.status] + ("" if unit.used else f"，未计入：{unit.reason}")
        label += f"；{unit.finalised}" if unit.finalised else ""
        yield ([1, unit.agency, unit.agency_code, display_name(unit.path), unit.sha256, label]
               + list(unit.values or [None] * len(facts)) + review_cells(unit))
        for source in unit.sources:
            chain = f"{display_name(unit.path)} › {source.get('file', '')}"
            yield ([int(source.get("level") or 1) + 1, source.get("agency", ""), source.get("agency_code", ""),
                    chain, source.get("sha256", ""), f"{source.get('status', '')}（已含在上一层）"]
                   + [source.get(f) for f in facts] + [source.get(k) for k in REVIEW_KEYS])
    counted = [review_cells(u)[:2] for u in result.used]
    yield (["", "合计（只计第 1 层中通过的单位）", "", "", "", ""] + [result.totals.get(f) for f in facts]
           + [sum(c[0] or 0 for c in counted), sum(c[1] or 0 for c in counted)])


def manifest_rows(result: Consolidation) -> list[list[Any]]:
    """The 清单 sheet: whether the total is complete, the versions, and every input with its hash and fate."""
    data = manifest(result)
    note = ("汇总完整：全部输入文件校验通过" if result.complete else
            f"注意：{len(result.excluded)} 个输入文件未计入汇总（见下表“未计入”），本汇总不完整")
    rows: list[list[Any]] = [[note]] + [[MANIFEST_KEYS[key], data[key]] for key in ("tool", "ruleset", "template",
                                                                                   "agency", "year", RUN_ID_KEY)]
    for item in data.get("local_rules", ()):  # which local rules the inputs were checked with
        whence = "、".join((["命令行 --rules"] if item["given"] else [])
                          + ([f"{item['units']} 个输入文件内含"] if item["units"] else []))
        rows.append(["地方规则", f"{item['issuer']}（{item['year']} 年，{item['rules']} 条规则；来源：{whence}；"
                                f"SHA-256 {item['sha256']}）"])
    rows += [[], list(MANIFEST_HEADER)]  # in Chinese: the keys, in the manifest
    rows += [[i["path"], i["sha256"], i["agency"], i["agency_code"], i["year"], STATUS_LABEL[i["status"]],
              "是" if i["used"] else "未计入", i["reason"]] for i in data["inputs"]]
    if result.missing or result.unknown:
        rows += [[], ["名单中没有文件的单位"] + result.missing, ["不在名单中的文件"] + result.unknown]
    if result.warnings:
        rows += [[], ["请核实"]] + [[line] for line in result.warnings]
    return rows


def workbook_bytes(result: Consolidation) -> bytes:
    """The district's report in the official template, with the 明细 and 清单 sheets."""
    from .template import build_workbook, cached_sums, reproducible_bytes
    from .totalsheets import detail_sheet, manifest_sheet

    wb = build_workbook(result.totals)
    for title in (DETAIL_SHEET, MANIFEST_SHEET):
        wb.create_sheet(title)  # written below as XML: thousands of rows
    meta = wb["_xxgk"]  # the identity sheet stays last
    meta.append([RUN_ID_KEY, run_id(result)])  # which run wrote it: must match the manifest's (see outputset)
    wb.move_sheet(meta, offset=len(wb.sheetnames) - 1 - wb.sheetnames.index("_xxgk"))
    meta.append(list(TOTAL_MARK))  # a total knows it is one (see `_is_total`)
    sheets = {DETAIL_SHEET: detail_sheet(wb, DETAIL_SHEET, detail_rows(result)),
              MANIFEST_SHEET: manifest_sheet(wb, MANIFEST_SHEET, manifest_rows(result))}
    return reproducible_bytes(wb, cached_sums(result.totals), sheets)


def manifest_bytes(result: Consolidation, outputs: dict[str, str] | None = None) -> bytes:
    return (json.dumps(manifest(result, outputs), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def progress_bar(stream=sys.stderr) -> Callable[[int, int], None]:
    """A one-line progress bar on a terminal; on a pipe, a line at every tenth."""
    tty = stream.isatty()

    def show(done: int, total: int) -> None:
        if tty:
            width = 30
            filled = width * done // total
            stream.write(f"\r读取并校验 [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done == total:
                stream.write("\n")
            stream.flush()
        elif total >= 10 and (done * 10 // total) != ((done - 1) * 10 // total) or done == total:
            stream.write(f"读取并校验 {done}/{total}\n")

    return show


__all__ = ["Consolidation", "Unit", "check", "consolidate", "discover", "manifest", "workbook_bytes", "asdict"]
