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
import os
import sys
import unicodedata
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import __version__
from .errors import NotAReport, XxgkError
from .findings import Finding
from .layout import load_layout
from .report import Report, from_document, load
from .rules import load_rules
from .schema import load_schema
from .validate import validate
from .workbook import DETAIL_SHEET

MAX_DETAIL_CELLS = 25_000_000  # a province's 明细: 100,000 units x 211 columns is about 21 million
MANIFEST_SHEET = "清单"
SUFFIXES = (".xlsx", ".json")

# statuses of an input
VALID, INVALID, UNREADABLE, DUPLICATE, OTHER_YEAR = "valid", "invalid", "unreadable", "duplicate", "other-year"
STATUS_LABEL = {VALID: "通过", INVALID: "有错误", UNREADABLE: "无法读取", DUPLICATE: "重复", OTHER_YEAR: "年度不符"}


@dataclass
class Unit:
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

    @property
    def used(self) -> bool:
        return self.status == VALID

    @property
    def facts(self) -> dict[str, Any]:
        return {f: v for f, v in zip(numeric_facts(), self.values, strict=False) if v is not None}

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


@dataclass
class Consolidation:
    units: list[Unit]
    year: Any
    agency: str
    totals: dict[str, Any]
    missing: list[str] = field(default_factory=list)  # roster units without a file
    unknown: list[str] = field(default_factory=list)  # files whose unit is not on the roster
    allow_invalid: bool = False

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
                        and not child.name.endswith(".manifest.json")):  # our own manifests are not reports
                    found.setdefault(child.resolve(), child)
        elif path.exists():
            found.setdefault(path.resolve(), path)
        else:
            raise XxgkError("输入文件或文件夹不存在", path=str(path))
    return sorted(found.values(), key=lambda p: str(p))


# -- reading one input (runs in a worker process) ----------------------------------------------------


def check(path: str) -> Unit:
    """Read and validate one input; never raises for a bad file."""
    unit = Unit(path=path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        unit.reason = f"无法读取文件（{exc.strerror}）"
        return unit
    unit.sha256 = hashlib.sha256(data).hexdigest()
    try:
        report = load(path)
    except NotAReport as exc:
        unit.reason = exc.message
        return unit
    facts = report.facts
    unit.values = tuple(facts.get(f) for f in numeric_facts())
    unit.agency = str(facts.get("agency") or "")
    unit.agency_code = str(facts.get("agency_code") or "")
    unit.year = facts.get("year")
    unit.findings = validate(report).findings
    if path.lower().endswith((".xlsx", ".xlsm")):
        from .finalize import finalised_state

        unit.finalised = finalised_state(report, data)
    unit.status = VALID if not unit.errors else INVALID
    if unit.status == INVALID:
        unit.reason = f"{len(unit.errors)} 处错误"
    if DETAIL_SHEET in report.sheet_names:  # an input that is itself a total: the units inside it
        rows, cols = report.sheet_sizes.get(DETAIL_SHEET, (0, 0))
        if rows * cols > MAX_DETAIL_CELLS:
            unit.status, unit.reason = UNREADABLE, f"“明细”工作表异常大（{rows:,} 行 × {cols:,} 列），已拒绝"
            return unit
        unit.sources = _detail_rows(data)
    return unit


def _detail_rows(data: bytes) -> list[dict]:
    """The units listed on the 明细 sheet of an input that is itself a total (else nothing)."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    if DETAIL_SHEET not in book.sheet_names:
        return []
    rows = book.get_sheet_by_name(DETAIL_SHEET).to_python()
    if len(rows) < 3:
        return []
    ids = rows[0]
    out = []
    for row in rows[2:]:
        record = dict(zip(ids, row, strict=False))
        if record.get("level") in ("", None) or record.get("file") in ("", None):
            continue  # the total row
        out.append({k: v for k, v in record.items() if k})
    return out


# -- the roll-up -------------------------------------------------------------------------------------


def consolidate(paths: list[Path], *, agency: str | None = None, roster: Path | None = None,
                allow_invalid: bool = False, jobs: int = 1,
                progress: Callable[[int, int], None] | None = None) -> Consolidation:
    """Read, validate and sum the inputs; decide which may be used (see module doc)."""
    if not paths:
        raise XxgkError("没有找到任何 .xlsx 或 .json 报告文件")
    names = [str(p) for p in paths]
    units: list[Unit] = []
    if jobs > 1 and len(names) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for i, unit in enumerate(pool.map(check, names, chunksize=max(1, min(64, len(names) // (jobs * 8)))), 1):
                units.append(unit)
                if progress:
                    progress(i, len(names))
    else:
        for i, name in enumerate(names, 1):
            units.append(check(name))
            if progress:
                progress(i, len(names))
    year = _common_year(units)
    _refuse_duplicates_and_other_years(units, year)
    used = [u for u in units if u.used]
    totals = _sum(used, year, agency or f"汇总（{len(used)} 个单位）")
    result = Consolidation(units, year, totals["agency"], totals, allow_invalid=allow_invalid)
    if roster is not None:
        result.missing, result.unknown = _compare_roster(read_roster(roster), units)
    return result


def _common_year(units: list[Unit]) -> Any:
    years = Counter(u.year for u in units if u.status in (VALID, INVALID) and isinstance(u.year, int))
    if not years:
        return None
    (year, n), *rest = years.most_common()
    if rest and rest[0][1] == n:
        raise XxgkError(f"输入文件的年度不一致且无法判断以哪一年为准：{'、'.join(str(y) for y, _ in years.most_common())}")
    return year


def _refuse_duplicates_and_other_years(units: list[Unit], year: Any) -> None:
    seen_hash: dict[str, Unit] = {}
    seen_unit: dict[str, Unit] = {}
    for unit in units:
        if unit.status not in (VALID, INVALID):
            continue
        if unit.year != year:
            unit.status, unit.reason = OTHER_YEAR, f"年度为 {unit.year}，其他文件为 {year}"
            continue
        first = seen_hash.get(unit.sha256)
        if first:
            unit.status, unit.reason = DUPLICATE, f"与 {Path(first.path).name} 内容完全相同"
            continue
        seen_hash[unit.sha256] = unit
        keys = [f"name:{_normal_name(unit.agency)}"] + ([f"code:{unit.agency_code.strip()}"] if unit.agency_code.strip() else [])
        clash = next((seen_unit[k] for k in keys if k in seen_unit), None)
        if clash:
            unit.status, unit.reason = DUPLICATE, f"与 {Path(clash.path).name} 是同一单位（{clash.agency}）"
            continue
        for key in keys:
            seen_unit[key] = unit


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


def _normal_name(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name or "").split())


def read_roster(path: Path) -> list[tuple[str, str]]:
    """(name, code) pairs from a CSV of `name[,code]`, UTF-8 or GB18030, with or without a header row."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise XxgkError(f"无法读取单位名单（{exc.strerror}）", path=str(path)) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise XxgkError("单位名单不是 UTF-8 或 GBK 编码的 CSV", path=str(path))
    rows = [r for r in csv.reader(io.StringIO(text)) if r and r[0].strip()]
    if rows and _normal_name(rows[0][0]).lower() in {"name", "名称", "单位", "单位名称", "机关名称"}:
        rows = rows[1:]
    if not rows:
        raise XxgkError("单位名单是空的", path=str(path))
    return [(r[0].strip(), r[1].strip() if len(r) > 1 else "") for r in rows]


def _compare_roster(roster: list[tuple[str, str]], units: list[Unit]) -> tuple[list[str], list[str]]:
    present = [u for u in units if u.status in (VALID, INVALID, DUPLICATE)]
    names = {_normal_name(u.agency) for u in present}
    codes = {u.agency_code.strip() for u in present if u.agency_code.strip()}
    missing = [name for name, code in roster if not ((code and code in codes) or _normal_name(name) in names)]
    roster_names = {_normal_name(n) for n, _ in roster}
    roster_codes = {c for _, c in roster if c}
    unknown = [f"{u.agency}（{Path(u.path).name}）" for u in present
               if _normal_name(u.agency) not in roster_names and not (u.agency_code.strip() in roster_codes)]
    return missing, unknown


# -- the outputs -------------------------------------------------------------------------------------


def manifest(result: Consolidation) -> dict:
    """What went in, with hashes, and what came of each input; no clock time, so reruns are identical."""

    return {
        "tool": f"xxgk {__version__}",
        "ruleset": load_rules().version,
        "template": load_layout().fingerprint()[:12],
        "agency": result.agency,
        "year": result.year,
        "complete": result.complete,
        "allow_invalid": result.allow_invalid,
        "inputs": [
            {"path": u.path, "sha256": u.sha256, "agency": u.agency, "agency_code": u.agency_code, "year": u.year,
             "status": u.status, "used": u.used, "reason": u.reason, "finalised": u.finalised, "errors": len(u.errors),
             "warnings": len(u.findings) - len(u.errors), "units_inside": len(u.sources)}
            for u in result.units
        ],
        "roster": {"missing": result.missing, "unknown": result.unknown},
    }


@cache
def numeric_facts() -> tuple[str, ...]:
    """The facts a roll-up adds up (every count and amount), in the schema's order."""
    return tuple(f.id for f in load_schema() if f.numeric and f.id != "year")


def detail_rows(result: Consolidation) -> Iterator[list[Any]]:
    """The 明细 sheet: fact ids, labels, then one row per input (and the units inside a total), then the total."""
    schema = load_schema()
    facts = list(numeric_facts())
    head = ["level", "agency", "agency_code", "file", "sha256", "status"]
    yield head + facts
    yield ["层级", "单位名称", "机关代码", "来源文件", "SHA-256", "校验结果"] + [schema.describe(f) for f in facts]
    for unit in result.units:
        label = STATUS_LABEL[unit.status] + ("" if unit.used else f"，未计入：{unit.reason}")
        label += f"；{unit.finalised}" if unit.finalised else ""
        yield ([1, unit.agency, unit.agency_code, Path(unit.path).name, unit.sha256, label]
               + list(unit.values or [None] * len(facts)))
        for source in unit.sources:
            chain = f"{Path(unit.path).name} › {source.get('file', '')}"
            yield ([int(source.get("level") or 1) + 1, source.get("agency", ""), source.get("agency_code", ""),
                    chain, source.get("sha256", ""), f"{source.get('status', '')}（已含在上一层）"]
                   + [source.get(f) for f in facts])
    yield ["", "合计（只计第 1 层中通过的单位）", "", "", "", ""] + [result.totals.get(f) for f in facts]


def manifest_rows(result: Consolidation) -> list[list[Any]]:
    """The 清单 sheet: whether the total is complete, the versions, and every input with its hash and fate."""
    data = manifest(result)
    note = ("汇总完整：全部输入文件校验通过" if result.complete else
            f"注意：{len(result.excluded)} 个输入文件未计入汇总（见下表“未计入”），本汇总不完整")
    rows: list[list[Any]] = [[note]] + [[key, data[key]] for key in ("tool", "ruleset", "template", "agency", "year")]
    rows += [[], ["文件", "SHA-256", "单位", "机关代码", "年度", "结果", "计入", "原因"]]
    rows += [[i["path"], i["sha256"], i["agency"], i["agency_code"], i["year"], STATUS_LABEL[i["status"]],
              "是" if i["used"] else "未计入", i["reason"]] for i in data["inputs"]]
    if result.missing or result.unknown:
        rows += [[], ["名单中没有文件的单位"] + result.missing, ["不在名单中的文件"] + result.unknown]
    return rows


def workbook_bytes(result: Consolidation) -> bytes:
    """The district's report in the official template, with the 明细 and 清单 sheets."""
    from .template import build_workbook, cached_sums, reproducible_bytes, sheet_xml

    wb = build_workbook(result.totals)
    for title in (DETAIL_SHEET, MANIFEST_SHEET):
        wb.create_sheet(title)  # written below as XML: thousands of rows
    meta = wb["_xxgk"]  # the identity sheet stays last
    wb.move_sheet(meta, offset=len(wb.sheetnames) - 1 - wb.sheetnames.index("_xxgk"))
    sheets = {DETAIL_SHEET: sheet_xml(detail_rows(result), frozen=(6, 2)), MANIFEST_SHEET: sheet_xml(manifest_rows(result))}
    return reproducible_bytes(wb, cached_sums(result.totals), sheets)


def manifest_bytes(result: Consolidation) -> bytes:
    return (json.dumps(manifest(result), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


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
