"""Auditing many published reports at once (年报抽查): what a supervising office does each year.

`audit(paths)` imports every published report (.pdf, .docx, .html/.htm, .txt), groups them by body
(the agency name as `text.normal_name` compares it) and validates each; a report whose body also
published the year before is validated with that report as `prior`, so the cross-year rules run
along each body's chain of years. With a roster (units and their parent) it also checks each
parent's published figures against the sum of its units' published reports, fact by fact, and lists
who has not published for a year.

Nothing one file does can stop the run: whatever goes wrong with a file becomes that file's own
无法读取 line (as in `consolidate.check`). Reading and validating run in the worker pool of
`workers.pool`, in two passes (import, then validate once every body's years are known).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import NotAReport, XxgkError
from .findings import BySeverity, Finding, fingerprint_of
from .rules import shown, value_of
from .text import display_name, display_path, normal_name
from .workers import capped_jobs
from .workers import pool as worker_pool

SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".txt")
AUDIT_MARK = "xxgk-audit"  # <meta name="xxgk-audit"> on the page `--html` writes: never read back as a report

# statuses of a report, best first
VALID, WARNINGS, INVALID, UNREADABLE = "valid", "warnings", "invalid", "unreadable"
STATUS_LABEL = {VALID: "通过", WARNINGS: "有警告", INVALID: "有错误", UNREADABLE: "无法读取"}

# outcomes of a roster check of one parent in one year
AGREES, DIFFERS, UNCHECKABLE = "agrees", "differs", "uncheckable"
CHECK_LABEL = {AGREES: "一致", DIFFERS: "不符", UNCHECKABLE: "无法核对"}
ROSTER_RULE = "audit.roster_sum"

_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


@dataclass
class Audited(BySeverity):
    """One published report found, and what the audit made of it."""

    path: str
    sha256: str = ""
    status: str = UNREADABLE
    agency: str = ""
    year: int | None = None
    document: dict | None = None  # the imported report (between the two passes; dropped afterwards)
    marks: dict = field(default_factory=dict)  # what its table printed where no number is (see Report.marks)
    values: tuple = ()  # numeric facts in `consolidate.numeric_facts()` order (None where absent)
    problems: list[str] = field(default_factory=list)  # what the import could not read, in Chinese
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""  # why it could not be read (Chinese)
    prior: str = ""  # path of last year's report it was validated against
    note: str = ""  # why the cross-year rules did not run, or other remarks about its place in the chain
    decided: dict = field(default_factory=dict)  # fingerprint -> review.Decision (`audit --decisions`)

    def by_decision(self, state: str) -> list[Finding]:
        """Its findings a reviewer confirmed, dismissed, or has not decided (review.CONFIRMED …)."""
        from .review import state as decision_of

        return [f for f in self.findings if decision_of(f, self.decided) == state]

    def decision_words(self) -> str:
        from .review import CONFIRMED, DISMISSED, OPEN

        return (f"复核：确认 {len(self.by_decision(CONFIRMED))} 处、排除 {len(self.by_decision(DISMISSED))} 处、"
                f"待复核 {len(self.by_decision(OPEN))} 处")

    @property
    def body(self) -> str:
        """The key of its body: the normalised agency name ('' when the title gave none)."""
        return normal_name(self.agency)

    @property
    def readable(self) -> bool:
        return self.status != UNREADABLE

    def summary(self) -> str:
        if not self.readable:
            return self.reason
        if not self.findings:
            return "校验通过"
        if not self.errors:
            return f"校验通过，有 {len(self.warnings)} 处警告"
        return f"发现 {len(self.errors)} 处错误、{len(self.warnings)} 处警告"

    def settle(self) -> None:
        if self.readable:
            self.status = INVALID if self.errors else WARNINGS if self.findings else VALID


@dataclass
class RosterCheck:
    """One parent's published total in one year against the sum of its units' published reports."""

    parent: str
    year: int
    units: list[str]
    parent_path: str = ""
    outcome: str = UNCHECKABLE
    missing: list[str] = field(default_factory=list)  # units with no report that year
    unreadable: list[str] = field(default_factory=list)  # units whose report that year could not be read
    why: str = ""  # for 无法核对: in Chinese
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)  # (fact id, parent's, units' sum)
    unchecked_facts: int = 0  # facts left out because a figure on either side is blank


@dataclass
class Roster:
    units: list[tuple[str, str]]  # (name, parent name or "")

    @property
    def names(self) -> list[str]:
        """Everyone on the roster, parents named only in the 上级 column too, in order of appearance."""
        seen: dict[str, str] = {}
        for name, parent in self.units:
            for n in (name, parent):
                if n and normal_name(n) not in seen:
                    seen[normal_name(n)] = n
        return list(seen.values())

    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, parent in self.units:
            if parent and normal_name(parent) != normal_name(name):
                out.setdefault(parent, [])
                if normal_name(name) not in {normal_name(n) for n in out[parent]}:
                    out[parent].append(name)
        return out


@dataclass
class Audit:
    reports: list[Audited]
    roster: Roster | None = None
    checks: list[RosterCheck] = field(default_factory=list)
    unpublished: dict[int, list[str]] = field(default_factory=dict)  # year -> roster names without a report
    unreadable_units: dict[int, list[str]] = field(default_factory=dict)  # year -> roster names, file unreadable
    off_roster: list[str] = field(default_factory=list)  # bodies that published but are not on the roster
    decisions: list | None = None  # review.Decision, when `--decisions` was given
    unmatched: list = field(default_factory=list)  # decisions no finding of any report has (any more)

    def apply_decisions(self, decisions: list) -> None:
        """Attach a reviewer's decisions (see `review.read_decisions`) to the findings they name."""
        from .review import decide

        self.decisions = decisions
        for r in self.reports:
            r.decided = decide(r.findings, decisions, r.agency, r.year)
        used = {id(d) for r in self.reports for d in r.decided.values()}
        self.unmatched = [d for d in decisions if id(d) not in used]

    @property
    def years(self) -> list[int]:
        return sorted({r.year for r in self.reports if isinstance(r.year, int)})

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.reports)

    def exit_code(self) -> int:
        """2 when any report could not be read, else 1 when any has errors, else 0 (as `xxgk validate`)."""
        if any(not r.readable for r in self.reports):
            return 2
        return 1 if any(r.errors for r in self.reports) else 0

    def refusals(self) -> list[tuple[str, int]]:
        """Why reports could not be read, most common first."""
        return Counter(r.reason for r in self.reports if not r.readable).most_common()


# -- finding the reports -----------------------------------------------------------------------------


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Files given, and published reports under folders given (recursively), each once, sorted. Hidden
    files and folders, Office lock files (~$…), temporary files and pages an audit wrote are skipped."""
    found: dict[Path, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path).parts
                if (child.suffix.lower() in SUFFIXES and not any(_hidden(p) for p in relative) and child.is_file()
                        and not is_audit_page(child)):
                    found.setdefault(child.resolve(), child)
        elif path.exists():
            found.setdefault(path.resolve(), path)
        else:
            raise XxgkError("输入文件或文件夹不存在", path=display_path(path))
    return sorted(found.values(), key=str)


def _hidden(name: str) -> bool:
    return name.startswith((".", "~")) or name.lower().endswith((".tmp", ".bak"))


def is_audit_page(path: Path) -> bool:
    """Is this a page `xxgk audit --html` wrote? Told by the mark near its top, whatever it is called."""
    if path.suffix.lower() not in (".html", ".htm"):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return f'<meta name="{AUDIT_MARK}"'.encode() in head


# -- the two passes (they run in worker processes) ----------------------------------------------------


def read_one(path: str) -> Audited:
    """Import one published report. Never raises: any failure is this file's 无法读取 line."""
    from .consolidate import numeric_facts
    from .importer import import_report
    from .report import read_input

    item = Audited(path=path)
    try:
        data = read_input(Path(path))  # read once: what is imported is what is hashed
        item.sha256 = hashlib.sha256(data).hexdigest()
        report, problems = import_report(Path(path), data)
        facts = report.facts
        item.document, item.problems, item.marks = report.document, list(problems), dict(report.marks)
        item.agency = str(facts.get("agency") or "").strip()
        year = facts.get("year")
        item.year = year if isinstance(year, int) and not isinstance(year, bool) else None
        item.values = tuple(facts.get(f) for f in numeric_facts())
        item.status = VALID  # readable; settled after validation
    except NotAReport as exc:
        _unreadable(item, exc.message)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # whatever the file holds, it is this file's problem, never the run's
        _unreadable(item, f"读取时出错（{type(exc).__name__}）；如果文件本身没有问题，这可能是本工具的缺陷，请连同该文件报告")
    return item


def validate_one(job: tuple[str, dict, dict, str, dict | None], local: tuple[dict, ...] = ()) -> tuple[list[Finding], str]:
    """Validate one imported report, with last year's as prior when there is one, and the local rule files
    (--rules) on top of the national rules. Returns the findings, or ([], reason) when validating failed
    (then the report is 无法读取 with that reason)."""
    from .report import from_document
    from .validate import validate

    path, document, marks, prior_path, prior_document = job
    try:
        report = from_document(document, Path(path))
        report.source, report.marks = "published", marks  # worded as published: 报告未说明, 无法核对, 此格为“/”
        prior = from_document(prior_document, Path(prior_path)) if prior_document is not None else None
        return validate(report, prior, local=local).findings, ""
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return [], f"校验时出错（{type(exc).__name__}）；这可能是本工具的缺陷，请连同该文件报告"


def _unreadable(item: Audited, reason: str) -> None:
    item.status, item.reason, item.document, item.values = UNREADABLE, reason, None, ()


def _run(function: Callable, jobs_in: list, jobs: int, progress: Callable[[], None] | None) -> list:
    """`function` over `jobs_in`, in the worker pool when there is more than one job and worker."""
    if jobs > 1 and len(jobs_in) > 1:
        out = []
        with worker_pool(min(jobs, len(jobs_in))) as pool:  # workers die with this process (see workers.py)
            chunk = max(1, min(32, len(jobs_in) // (jobs * 8)))
            for value in pool.map(function, jobs_in, chunksize=chunk):
                out.append(value)
                if progress:
                    progress()
        return out
    out = []
    for job in jobs_in:
        out.append(function(job))
        if progress:
            progress()
    return out


# -- the audit ----------------------------------------------------------------------------------------


def audit(paths: list[Path], *, roster: Path | None = None, jobs: int = 1,
          progress: Callable[[int, int], None] | None = None, local: tuple[dict, ...] = ()) -> Audit:
    """Import, chain by body and year, validate (with the `local` rule files too); then the roster checks
    (see module doc)."""
    if not paths:
        raise XxgkError("没有找到任何已发布的报告（.pdf、.docx、.html、.htm、.txt）")
    parsed_roster = read_roster(roster) if roster is not None else None  # a bad roster stops before the long read
    jobs, note = capped_jobs(jobs)
    if note:
        print(f"xxgk：{note}", file=sys.stderr)
    done = [0]
    total = 2 * len(paths)

    def step() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    reports = _run(read_one, [str(p) for p in paths], jobs, step)
    priors = chain(reports)
    readable = [r for r in reports if r.readable]
    work = []
    for r in readable:
        prior = priors.get(id(r))
        work.append((r.path, r.document, r.marks, prior.path if prior else "", prior.document if prior else None))
        r.prior = prior.path if prior else ""
    done[0] += len(reports) - len(readable)
    for r, (findings, failure) in zip(readable, _run(partial(validate_one, local=tuple(local)), work, jobs, step), strict=True):
        if failure:
            _unreadable(r, failure)
        else:
            r.findings = list(findings)
    if progress and not work:
        progress(total, total)
    for r in reports:
        r.document = None  # only the figures are kept: 10,000 reports stay small
    result = Audit(reports)
    if parsed_roster is not None:
        result.roster = parsed_roster
        check_roster(result)
    for r in reports:
        r.settle()
    return result


def chain(reports: list[Audited]) -> dict[int, Audited]:
    """Last year's report of the same body, for each report that has exactly one (by id of the report).
    Also writes each report's `note` when its cross-year rules cannot run, saying why."""
    by_body: dict[str, dict[int, list[Audited]]] = {}
    for r in reports:
        if r.readable and r.body and r.year is not None:
            by_body.setdefault(r.body, {}).setdefault(r.year, []).append(r)
    priors: dict[int, Audited] = {}
    for r in reports:
        if not r.readable:
            continue
        if not r.body or r.year is None:
            r.note = "未读出机关名称或年度，无法归入机关、做跨年度核对"
            continue
        years = by_body[r.body]
        same = years[r.year]
        if len(same) > 1:
            others = "、".join(display_name(o.path) for o in same if o is not r)
            r.note = f"同一机关 {r.year} 年有 {len(same)} 份报告（另见 {others}），未做跨年度核对"
            continue
        before = years.get(r.year - 1, [])
        if len(before) == 1:
            priors[id(r)] = before[0]
        elif len(before) > 1:
            r.note = f"{r.year - 1} 年有 {len(before)} 份报告，不知以哪份为准，未做跨年度核对"
        elif any(y < r.year for y in years):
            r.note = f"没有 {r.year - 1} 年的报告，未做跨年度核对"
    return priors


# -- the roster ----------------------------------------------------------------------------------------


def read_roster(path: Path) -> Roster:
    """Units and their parents from a CSV `名称,上级` (UTF-8 or GBK, header row optional): a row whose
    上级 is empty is a body at the top (a parent itself, or a body checked on its own)."""
    from .consolidate import roster_rows

    rows = roster_rows(Path(path), second="parent")
    units = [(r[0], r[1] if len(r) > 1 else "") for r in rows]
    for name, parent in units:
        if normal_name(name) == normal_name(parent):
            raise XxgkError(f"单位名单中「{name}」的上级是它自己", path=display_path(path))
    return Roster(units)


def _attributed_unreadable(result: Audit, names: list[str]) -> dict[tuple[str, int | None], list[Audited]]:
    """Unreadable files, put to the roster unit whose name their file name holds (the longest such name),
    and to the year in the file name (None when it has none): an unreadable file has no title to go by."""
    keys = sorted(((normal_name(n), n) for n in names), key=lambda k: -len(k[0]))
    out: dict[tuple[str, int | None], list[Audited]] = {}
    for r in result.reports:
        if r.readable:
            continue
        stem = normal_name(Path(r.path).stem)
        hit = next((key for key, _ in keys if key and key in stem), None)
        if hit is None:
            continue
        year = _YEAR_IN_NAME.search(Path(r.path).stem)
        out.setdefault((hit, int(year.group(1)) if year else None), []).append(r)
    return out


def check_roster(result: Audit) -> None:
    """Who has not published each year, and each parent's total against its units, fact by fact.

    A parent's figures are compared with the sum of its units' published reports for that year. When a
    unit has no report, or its report cannot be read, the check is 无法核对 (naming those units), not an
    error. A figure left blank on either side leaves that fact out. A difference is an error finding
    on the parent's report (rule audit.roster_sum)."""
    from .consolidate import numeric_facts
    from .schema import load_schema

    roster = result.roster
    assert roster is not None
    names = roster.names
    published: dict[tuple[str, int], list[Audited]] = {}
    for r in result.reports:
        if r.readable and r.body and r.year is not None:
            published.setdefault((r.body, r.year), []).append(r)
    broken = _attributed_unreadable(result, names)

    def unreadable_for(name: str, year: int) -> list[Audited]:
        return broken.get((normal_name(name), year), []) + broken.get((normal_name(name), None), [])

    roster_keys = {normal_name(n) for n in names}
    result.off_roster = sorted({r.agency for r in result.reports if r.readable and r.body and r.body not in roster_keys})
    years = sorted({y for (body, y) in published if body in roster_keys}
                   | {y for (_, y) in broken if y is not None})
    for year in years:
        result.unpublished[year] = [n for n in names if (normal_name(n), year) not in published
                                    and not unreadable_for(n, year)]
        result.unreadable_units[year] = [n for n in names if (normal_name(n), year) not in published
                                         and unreadable_for(n, year)]
    schema = load_schema()
    facts = numeric_facts()
    for parent, units in roster.children().items():
        for year in years:
            own = published.get((normal_name(parent), year), [])
            if not own:
                continue  # the parent did not publish (listed among the unpublished)
            check = RosterCheck(parent=parent, year=year, units=list(units), parent_path=own[0].path)
            result.checks.append(check)
            if len(own) > 1:
                check.why = f"上级 {year} 年有 {len(own)} 份报告，不知以哪份为准"
                continue
            for unit in units:
                found = published.get((normal_name(unit), year), [])
                if not found:
                    (check.unreadable if unreadable_for(unit, year) else check.missing).append(unit)
                elif len(found) > 1:
                    check.why = f"下级单位「{unit}」{year} 年有 {len(found)} 份报告，不知以哪份为准"
            if check.missing or check.unreadable or check.why:
                parts = ([f"缺少 {'、'.join(check.missing)} 的报告"] if check.missing else []) + \
                        ([f"{'、'.join(check.unreadable)} 的报告无法读取"] if check.unreadable else []) + \
                        ([check.why] if check.why else [])
                check.why = "；".join(parts)
                continue
            rows = [published[(normal_name(u), year)][0] for u in units]
            parent_report = own[0]
            for i, fact_id in enumerate(facts):
                mine = parent_report.values[i] if i < len(parent_report.values) else None
                theirs = [r.values[i] if i < len(r.values) else None for r in rows]
                if value_of(mine) is None or any(value_of(v) is None for v in theirs):
                    check.unchecked_facts += 1
                    continue
                total = sum(theirs)
                if not math.isclose(mine, total, rel_tol=1e-9, abs_tol=1e-6):
                    check.differences.append((fact_id, mine, total))
            check.outcome = DIFFERS if check.differences else AGREES
            for fact_id, mine, total in check.differences:
                parent_report.findings.append(Finding(
                    rule=ROSTER_RULE, severity="error",
                    message=(f"上级汇总核对：{schema.describe(fact_id)} 为 {shown(mine)}，"
                             f"{len(units)} 个下级单位（{'、'.join(units)}）的 {year} 年报告之和为 {shown(total)}，应相等"),
                    facts=(fact_id,), expected=total, actual=mine,
                    fingerprint=fingerprint_of(f"{ROSTER_RULE}[{'、'.join(units)}]", (fact_id,), [mine], total, mine)))




# -- outputs ------------------------------------------------------------------------------------------


def report_line(r: Audited, reviewing: bool = False) -> str:
    """The one line a report gets on screen; `reviewing` (a decisions file was given): its findings
    counted by the reviewer's decision."""
    who = f"{r.agency or '（未读出机关名称）'} {r.year if r.year is not None else '（年度未读出）'}"
    if not r.readable:
        return f"【{STATUS_LABEL[r.status]}】{display_path(r.path)}：{r.reason}"
    extra = ""
    if r.prior:
        extra = f"；已与上年报告 {display_name(r.prior)} 跨年度核对"
    elif r.note:
        extra = f"；{r.note}"
    if r.problems:
        extra += f"；读取问题 {len(r.problems)} 处"
    if reviewing and r.findings:
        extra += f"；{r.decision_words()}"
    return f"【{STATUS_LABEL[r.status]}】{display_path(r.path)}：{who}，{r.summary()}{extra}"


def summary_lines(result: Audit) -> list[str]:
    reports = result.reports
    bodies = {r.body or r.path for r in reports if r.readable}
    years = result.years
    span = f"，{years[0]}–{years[-1]} 年" if len(years) > 1 else f"，{years[0]} 年" if years else ""
    lines = [f"共 {len(reports)} 份报告（{len(bodies)} 个机关{span}）：通过 {result.count(VALID)} 份，"
             f"有警告 {result.count(WARNINGS)} 份，有错误 {result.count(INVALID)} 份，无法读取 {result.count(UNREADABLE)} 份；"
             f"跨年度核对 {sum(bool(r.prior) for r in reports)} 份"]
    for reason, n in result.refusals():
        lines.append(f"  无法读取：{reason}（{n} 份）")
    if result.roster is not None:
        for check in result.checks:
            lines.append(f"名单核对 {check.parent} {check.year} 年（{len(check.units)} 个下级单位）："
                         + check_text(check))
        for year in sorted(result.unpublished):
            names = result.unpublished[year]
            if names:
                lines.append(f"{year} 年名单中未发布报告的（{len(names)} 个）：{'、'.join(names)}")
            broken = result.unreadable_units.get(year)
            if broken:
                lines.append(f"{year} 年名单中报告无法读取的（{len(broken)} 个）：{'、'.join(broken)}")
        if result.off_roster:
            lines.append(f"不在名单中的机关（{len(result.off_roster)} 个）：{'、'.join(result.off_roster)}")
    if result.decisions is not None:
        lines.extend(decision_lines(result))
    return lines


def decision_lines(result: Audit) -> list[str]:
    """The reviewer's decisions: counts over all reports, then decisions that matched no finding."""
    from .review import CONFIRMED, DISMISSED, OPEN

    counts = {s: sum(len(r.by_decision(s)) for r in result.reports) for s in (CONFIRMED, DISMISSED, OPEN)}
    lines = [f"复核决定 {len(result.decisions or [])} 条：确认 {counts[CONFIRMED]} 处、排除 {counts[DISMISSED]} 处，"
             f"待复核 {counts[OPEN]} 处"]
    for d in result.unmatched:
        lines.append(f"  不再适用的复核决定：指纹 {d.fingerprint}（{'确认' if d.decision == CONFIRMED else '排除'}）"
                     "没有对应的问题：问题已消除，或它比较的数字已改变，须重新复核")
    return lines


def check_text(check: RosterCheck) -> str:
    if check.outcome == UNCHECKABLE:
        return f"无法核对（{check.why}）"
    skipped = f"；{check.unchecked_facts} 项因有空白未核对" if check.unchecked_facts else ""
    if check.outcome == AGREES:
        return f"一致（逐项核对上级报告与下级报告之和）{skipped}"
    return f"不符，{len(check.differences)} 项与下级报告之和不等（见该上级报告的错误）{skipped}"


def to_dict(result: Audit) -> dict:
    """The audit for scripts (`--format json`)."""
    from . import __version__
    from .rules import load_rules

    out: dict[str, Any] = {
        "tool": f"xxgk {__version__}",
        "ruleset": load_rules().version,
        "exit_code": result.exit_code(),
        "summary": {"reports": len(result.reports), "valid": result.count(VALID), "warnings": result.count(WARNINGS),
                    "invalid": result.count(INVALID), "unreadable": result.count(UNREADABLE),
                    "cross_year": sum(bool(r.prior) for r in result.reports),
                    "refusals": [{"reason": reason, "count": n} for reason, n in result.refusals()]},
        "reports": [{
            "path": display_path(r.path), "sha256": r.sha256, "agency": r.agency or None, "year": r.year,
            "status": r.status, "valid": r.readable and not r.errors, "error": r.reason or None,
            "prior": display_path(r.prior) if r.prior else None, "note": r.note or None,
            "errors": len(r.errors), "warnings": len(r.warnings), "import_problems": r.problems,
            "findings": [_finding_dict(f, r, result) for f in r.findings],
            **({"review": {s: len(r.by_decision(s)) for s in ("confirmed", "dismissed", "open")}}
               if result.decisions is not None else {})} for r in result.reports],
    }
    if result.decisions is not None:
        from .review import CONFIRMED, DISMISSED, OPEN

        out["decisions"] = {
            "count": len(result.decisions),
            **{s: sum(len(r.by_decision(s)) for r in result.reports) for s in (CONFIRMED, DISMISSED, OPEN)},
            "unmatched": [d.to_dict() for d in result.unmatched]}
    if result.roster is not None:
        out["roster"] = {
            "checks": [{"parent": c.parent, "year": c.year, "units": c.units, "parent_path": display_path(c.parent_path),
                        "outcome": c.outcome, "missing": c.missing, "unreadable": c.unreadable, "why": c.why or None,
                        "unchecked_facts": c.unchecked_facts,
                        "differences": [{"fact": f, "parent": a, "units_sum": b} for f, a, b in c.differences]}
                       for c in result.checks],
            "unpublished": {str(y): n for y, n in sorted(result.unpublished.items())},
            "unreadable": {str(y): n for y, n in sorted(result.unreadable_units.items())},
            "off_roster": result.off_roster,
        }
    return out


def _finding_dict(f: Finding, r: Audited, result: Audit) -> dict:
    data = f.to_dict()
    if result.decisions is not None:
        from .review import state

        data["review"] = state(f, r.decided)
        if f.fingerprint in r.decided:
            data["reason"] = r.decided[f.fingerprint].reason
    return data


def check_output(html: Path, inputs: Iterable[Path]) -> None:
    """Refuse (exit 2, before reading anything) a page path that is an input, or that holds a file an
    audit did not write (someone's page, a report): the audit page never overwrites anything else."""
    html = Path(html)
    if html.suffix.lower() not in (".html", ".htm"):
        raise XxgkError("--html 的输出应为 .html 文件", path=display_path(html))
    target = os.path.normcase(os.path.realpath(html))
    for source in inputs:
        if os.path.normcase(os.path.realpath(source)) == target or (
                html.exists() and Path(source).exists() and os.path.samefile(html, source)):
            raise XxgkError(f"--html 的输出路径就是输入文件 {display_path(source)}，未运行；请换一个文件名",
                            path=display_path(html))
    if html.is_dir():
        raise XxgkError("--html 的输出路径是一个文件夹，请给出文件名", path=display_path(html))
    if html.exists() and not is_audit_page(html):
        raise XxgkError("--html 的输出路径上已有一个文件，它不是本工具此前写出的抽查网页；为免覆盖，未运行。"
                        "请换一个文件名，或确认该文件无用后先移走它", path=display_path(html))
