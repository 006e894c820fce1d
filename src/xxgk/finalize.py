"""Finalising a report for submission, and verifying a submitted file.

The submission copy is the template filled with the report's figures and texts, every cell locked,
and stamped: custom document properties give the tool and rule-set versions, the time, and a
SHA-256 fingerprint over the canonical JSON of every fact and text; the hidden identity sheet keeps
that JSON itself, so `verify` can name what was changed after finalising.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import NotAReport, XxgkError
from .findings import Result
from .layout import META_SHEET
from .package import WORKBOOK, open_package
from .report import Report, load, read_input
from .rules import load_rules
from .schema import load_schema
from .validate import validate

PROPERTY = "xxgk.{}"  # custom document property names
FACTS_KEY = "finalized_facts"  # row of the identity sheet holding the canonical JSON


def canonical(report: Report) -> str:
    """Every fact and text of the report, as JSON with sorted keys and no spaces: what is fingerprinted."""
    return json.dumps(report.facts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def fingerprint(report: Report, explained: dict[str, str] | None = None) -> str:
    """SHA-256 over `canonical`, and over the 复核说明 that apply when there are any (`explained`:
    fingerprint -> explanation; by default those on the report's own sheet, as in a finalised copy)."""
    from .review import canonical as explanations

    if explained is None:
        explained = {e.fingerprint: e.text for e in report.explanations}
    text = canonical(report) + ("\n" + explanations(explained) if explained else "")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def submission_name(report: Report) -> str:
    """`<年度>年<机关名称>政府信息公开工作年度报告.xlsx`, safe on any file system."""
    from .distribute import safe_name

    return f"{report.year}年{safe_name(str(report.agency or ''))}政府信息公开工作年度报告.xlsx"


class NotFinalisable(XxgkError):
    exit_code = 1

    def __init__(self, result: Result):
        if result.valid:
            message = (f"有 {len(result.open_warnings)} 处未说明的警告，按要求不能定稿：请改正，或在“复核说明”表中逐条说明理由"
                       "（xxgk validate 列出警告及其指纹）")
        else:
            message = f"有 {len(result.errors)} 处错误，不能定稿：请先改正（xxgk validate 列出全部问题）"
        super().__init__(message)
        self.result = result


def finalize(path: str | Path, out_dir: str | Path | None = None, now: dt.datetime | None = None,
             *, force: bool = True, strict: bool = False) -> tuple[Path, Result]:
    """Write the stamped submission copy of a valid report; NotFinalisable (with the findings) if it has errors.

    A missing output folder is created. Without `force`, an existing file of the submission's name is
    replaced only when it is a submission copy unchanged since it was finalised (an earlier run's output)."""
    from openpyxl.packaging.custom import StringProperty

    from .consolidate import TOTAL_MARK, total_sheets
    from .output import write_atomic
    from .template import build_workbook, cached_sums, reproducible_bytes
    from .totalsheets import detail_sheet, manifest_sheet
    from .workbook import DETAIL_SHEET

    data = read_input(Path(path))
    report = load(path, data)
    result = validate(report, strict=strict)
    if not result.finalisable:  # errors; with `strict` (or the template's setting) open warnings too
        raise NotFinalisable(result)
    schema = load_schema()
    values = dict(report.facts)
    locked = frozenset(f for f in schema.facts if f not in load_rules().computed())  # every cell: a submission copy
    from . import review
    from .localrules import embedded
    from .workbook import PRIOR_HINT

    # last year's figures the template carried stay: the warnings they raise, and their explanations, travel
    # too; so do a template's local rules
    wb = build_workbook(values, locked=locked, settings={PRIOR_HINT + f: v for f, v in report.prior_hints.items()},
                        local=embedded(report.identity))

    at = wb.sheetnames.index(review.SHEET)  # the explanations that apply, locked like every cell
    wb.remove(wb[review.SHEET])
    review.render(wb.create_sheet(review.SHEET, at), review.sheet_rows(_explained_only(result)), locked=True)
    if result.strict:
        wb[META_SHEET].append([review.STRICT_KEY, "1"])
    carried = total_sheets(report, data)  # a total stays one: never summed again with the units it holds
    for title in carried:
        wb.create_sheet(title)
    if carried:
        wb.move_sheet(wb[META_SHEET], offset=len(wb.sheetnames) - 1 - wb.sheetnames.index(META_SHEET))
        wb[META_SHEET].append(list(TOTAL_MARK))
    when = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(microsecond=0)
    stamp = {"tool": f"xxgk {__version__}", "ruleset": load_rules().version,
             "finalized": when.isoformat().replace("+00:00", "Z"), "fingerprint": fingerprint(report, result.explained)}
    for key, value in stamp.items():
        wb.custom_doc_props.append(StringProperty(name=PROPERTY.format(key), value=value))
    wb[META_SHEET].append([FACTS_KEY, canonical(report)])
    wb.properties.title = f"{report.year}年{report.agency}政府信息公开工作年度报告"
    from .paths import prepare_output

    folder = Path(out_dir) if out_dir else Path(path).parent
    target = folder / submission_name(report)
    sheets = {title: (detail_sheet if title == DETAIL_SHEET else manifest_sheet)(wb, title, rows)
              for title, rows in carried.items()}  # formatted as consolidate writes them (see totalsheets)
    data = reproducible_bytes(wb, cached_sums(values), sheets)
    prepare_output(target, data, force=force, previous=_unchanged_submission, inputs=(Path(path),))
    write_atomic(target, data, inputs=(Path(path),))
    return target, result


def _explained_only(result: Result) -> Result:
    """The result with only its explained warnings: what the finalised copy's 复核说明 sheet lists."""
    return Result(result.path, result.explained_warnings, dict(result.explained))


def _unchanged_submission(path: Path) -> bool:
    """An earlier `finalize` output, not edited since: finalised and unchanged."""
    verdict = verify(path)
    return verdict.finalized and verdict.unchanged


@dataclass
class Verdict:
    path: str
    finalized: bool = False
    stamp: dict[str, str] = field(default_factory=dict)
    unchanged: bool | None = None  # None: not finalised, nothing to compare
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # fact id, at finalising, now
    result: Result | None = None
    run_id: str = ""  # a consolidation's workbook: the run that wrote it
    mixed: list[str] = field(default_factory=list)  # why it and the outputs beside it are not one set
    explanations_changed: bool = False  # the figures are as finalised, the 复核说明 is not

    @property
    def ok(self) -> bool:
        return (self.finalized and bool(self.unchanged) and self.result is not None and self.result.valid
                and not self.mixed)


STAMP_UNREADABLE = "定稿印记无法读取"


def _stamp(data: bytes, path: str | Path | None = None) -> dict[str, str]:
    """The `xxgk.*` custom document properties; {} when there are none.

    Read through the guarded package reader. A properties part that is empty or not well-formed
    is NotAReport: whether the file was finalised, and left unchanged since, cannot be told.
    """
    package = open_package(path, data, WORKBOOK)  # the reader's own, when it has just read these bytes
    if not package.has("docProps/custom.xml"):
        return {}
    root = package.xml("docProps/custom.xml", f"{STAMP_UNREADABLE}（docProps/custom.xml 已损坏或为空）："
                                              "无法核验是否定稿、定稿后是否被修改")
    out = {}
    for prop in root:
        name = prop.get("name") or ""
        if name.startswith("xxgk."):
            out[name[5:]] = "".join(child.text or "" for child in prop)
    return out


def _finalized_facts(data: bytes) -> dict[str, Any] | None:
    """The facts kept at finalising on the identity sheet; None when they cannot be read (nothing to compare)."""
    from python_calamine import CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(META_SHEET).to_python()
        kept = next((row[1] for row in rows if len(row) > 1 and row[0] == FACTS_KEY), None)
        facts = json.loads(kept) if isinstance(kept, str) else None
    except Exception:  # calamine's own errors, JSON too deep or with absurd numbers: the changes stay unnamed
        return None
    return facts if isinstance(facts, dict) else None


def finalised_state(report: Report, data: bytes) -> str:
    """未定稿 / 已定稿 / 定稿后被修改 / 定稿印记无法读取, for a workbook already read (the consolidation's per-unit column)."""
    try:
        stamp = _stamp(data, report.path)
    except NotAReport:
        return STAMP_UNREADABLE
    if "fingerprint" not in stamp:
        return "未定稿"
    return "已定稿" if fingerprint(report) == stamp["fingerprint"] else "定稿后被修改"


def verify(path: str | Path) -> Verdict:
    """Is the file finalised, unchanged since, and valid? NotAReport when it is not a report at all."""
    data = read_input(Path(path))  # read once: what is checked is what was hashed
    report = load(path, data)
    verdict = Verdict(str(path), result=validate(report))
    if Path(path).suffix.lower() != ".xlsx":
        return verdict
    from .outputset import problems, run_id_of

    verdict.run_id = run_id_of(report) or ""
    if verdict.run_id:  # a consolidation's workbook: one set with the manifest (and page) beside it?
        verdict.mixed = problems(Path(path), alone_is_fine=True)
    verdict.stamp = _stamp(data, path)
    if "fingerprint" not in verdict.stamp:
        return verdict
    verdict.finalized = True
    verdict.unchanged = fingerprint(report) == verdict.stamp["fingerprint"]
    if not verdict.unchanged:
        from .review import canonical as explanations

        before = _finalized_facts(data)
        kept = json.dumps(before, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if before is not None else ""
        explained = {e.fingerprint: e.text for e in report.explanations}
        stamped = {hashlib.sha256(text.encode()).hexdigest()  # with the 复核说明 as it is now, or with none
                   for text in (kept, kept + "\n" + explanations(explained) if explained else kept)}
        if before is not None and verdict.stamp["fingerprint"] in stamped:
            # the kept JSON is the one that was stamped: it can say what changed
            now = report.facts
            verdict.changes = [(f, before.get(f), now.get(f)) for f in load_schema().facts
                               if before.get(f) != now.get(f)]
        elif before is not None and before == report.facts:
            verdict.explanations_changed = True
    return verdict
