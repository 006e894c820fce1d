"""The audit (`xxgk audit --html`) as one self-contained page for the supervising office.

A table of bodies × years with each report's status (each cell links to that report's findings),
the roster checks when a roster was given, the files that could not be read and why, then every
report's findings with their evidence (the finding message quotes the sentence for text rules) and
what the import could not read. No network, no other file, no script; everything from the inputs is
escaped (`htmlreport.esc`), and the same audit always gives the same bytes (no clock time).
"""

from __future__ import annotations

from typing import Any

from . import __version__
from .audit import (
    AUDIT_MARK, CHECK_LABEL, DIFFERS, INVALID, STATUS_LABEL, UNCHECKABLE, UNREADABLE, VALID, WARNINGS, Audit, Audited,
    check_text, summary_lines)
from .findings import SEVERITY_LABEL
from .htmlreport import CSS, esc
from .text import display_name, display_path

MAX_FINDINGS = 300  # per report on the page; the JSON output has them all

EXTRA_CSS = """
td.s-valid { background: #e8f4ea; }
td.s-warnings { background: #fff4d6; }
td.s-invalid { background: #fdecea; color: #7a1a14; font-weight: bold; }
td.s-unreadable { background: #eeeeee; color: #5f1410; font-weight: bold; }
td.s-none { color: #888; text-align: center; }
#bodies td, #bodies thead th { text-align: center; white-space: nowrap; }
#bodies th[scope="row"] { min-width: 12em; word-break: break-all; }
li.error { color: #7a1a14; }
section.report { border-top: 1px solid #ccc; margin-top: 12px; }
"""


def _anchor(n: int) -> str:
    return f"r-{n}"


def _who(r: Audited) -> str:
    return f"{r.agency or '（未读出机关名称）'} {r.year if r.year is not None else '（年度未读出）'}"


def _cell(entries: list[tuple[int, Audited]]) -> str:
    if not entries:
        return '<td class="s-none" data-status="none">未发布</td>'
    worst = max((r.status for _, r in entries), key=[VALID, WARNINGS, INVALID, UNREADABLE].index)
    links = "<br>".join(f'<a href="#{_anchor(n)}">{esc(STATUS_LABEL[r.status])}</a>'
                        + (f'<span class="note">（{len(r.errors)} 错 {len(r.warnings)} 警）</span>' if r.findings else "")
                        for n, r in entries)
    return f'<td class="s-{esc(worst)}" data-status="{esc(worst)}">{links}</td>'


def bodies_table(result: Audit, numbered: list[tuple[int, Audited]]) -> str:
    """Bodies down, years across; a body that published twice in a year shows both."""
    years = result.years
    names: dict[str, str] = {}
    grid: dict[tuple[str, int], list[tuple[int, Audited]]] = {}
    loose: list[tuple[int, Audited]] = []
    for n, r in numbered:
        if r.readable and r.body and r.year is not None:
            names.setdefault(r.body, r.agency)
            grid.setdefault((r.body, r.year), []).append((n, r))
        elif r.readable:
            loose.append((n, r))
    out = ['<div class="wrap"><table id="bodies">',
           f"<caption>各机关各年度报告的校验结果（{len(names)} 个机关）</caption>",
           '<thead><tr><th scope="col">机关</th>' + "".join(f'<th scope="col">{y} 年</th>' for y in years)
           + "</tr></thead><tbody>"]
    for body, name in sorted(names.items(), key=lambda kv: kv[1]):
        out.append(f'<tr><th scope="row">{esc(name)}</th>'
                   + "".join(_cell(grid.get((body, y), [])) for y in years) + "</tr>")
    out.append("</tbody></table></div>")
    if loose:
        out.append('<h3>未读出机关名称或年度的报告</h3><ul id="loose">' + "".join(
            f'<li><a href="#{_anchor(n)}">{esc(display_path(r.path))}</a>：{esc(_who(r))}，{esc(r.summary())}</li>'
            for n, r in loose) + "</ul>")
    return "\n".join(out)


def unreadable_list(numbered: list[tuple[int, Audited]]) -> str:
    rows = [(n, r) for n, r in numbered if not r.readable]
    if not rows:
        return ""
    return (f'<h3 id="unreadable">无法读取的文件（{len(rows)} 个）</h3><div class="wrap"><table id="unreadable-files">'
            '<thead><tr><th scope="col">文件</th><th scope="col">原因</th></tr></thead><tbody>'
            + "".join(f'<tr id="{_anchor(n)}"><th scope="row">{esc(display_path(r.path))}</th><td>{esc(r.reason)}</td></tr>'
                      for n, r in rows) + "</tbody></table></div>")


def roster_section(result: Audit) -> str:
    if result.roster is None:
        return ""
    from .schema import load_schema

    schema = load_schema()
    out = ['<section id="sec-roster" aria-labelledby="h-roster"><h2 id="h-roster">与单位名单核对</h2>']
    if result.checks:
        out.append('<div class="wrap"><table id="roster-checks"><caption>上级报告与下级单位报告之和逐项核对</caption>'
                   '<thead><tr><th scope="col">上级机关</th><th scope="col">年度</th><th scope="col">下级单位</th>'
                   '<th scope="col">结论</th><th scope="col">说明</th></tr></thead><tbody>')
        for c in result.checks:
            state = {DIFFERS: INVALID, UNCHECKABLE: UNREADABLE}.get(c.outcome, VALID)
            detail = esc(check_text(c))
            if c.differences:
                detail += "<ul>" + "".join(
                    f"<li>{esc(schema.describe(f))}：上级 {esc(a)}，下级之和 {esc(b)}</li>" for f, a, b in c.differences[:50]
                ) + "</ul>"
            out.append(f'<tr data-outcome="{esc(c.outcome)}"><th scope="row">{esc(c.parent)}</th><td>{c.year}</td>'
                       f'<td>{esc("、".join(c.units))}</td><td class="s-{state}">{esc(CHECK_LABEL[c.outcome])}</td>'
                       f"<td>{detail}</td></tr>")
        out.append("</tbody></table></div>")
    else:
        out.append('<p class="note">名单中没有可核对的上级报告（上级未发布，或名单没有写上级）。</p>')
    for year in sorted(result.unpublished):
        names = result.unpublished[year]
        broken = result.unreadable_units.get(year, [])
        out.append(f'<p><strong>{year} 年名单中未发布报告的单位（{len(names)} 个）：</strong>'
                   f'<span id="unpublished-{year}">{esc("、".join(names)) or "无"}</span></p>')
        if broken:
            out.append(f"<p><strong>{year} 年名单中报告无法读取的单位（{len(broken)} 个）：</strong>{esc('、'.join(broken))}</p>")
    if result.off_roster:
        out.append(f"<p><strong>不在名单中的机关（{len(result.off_roster)} 个）：</strong>{esc('、'.join(result.off_roster))}</p>")
    out.append("</section>")
    return "\n".join(out)


def decided_lists(r: Audited) -> str:
    """A report's findings in three lists by the reviewer's decision: 待复核, 确认, 排除 (with reasons)."""
    from .review import CONFIRMED, DECISION_LABEL, DISMISSED, OPEN, note

    out = []
    for state in (OPEN, CONFIRMED, DISMISSED):
        found = sorted(r.by_decision(state), key=lambda f: f.severity != "error")
        if not found:
            continue
        items = []
        for f in found[:MAX_FINDINGS]:
            reason = r.decided[f.fingerprint].reason if f.fingerprint in r.decided else ""
            items.append(f'<li class="{esc(f.severity)}">[{esc(SEVERITY_LABEL.get(f.severity, f.severity))}] {esc(f.message)}'
                         f'<span class="note">（{esc(note(f))}）</span>'
                         + (f"<br>理由：{esc(reason)}" if reason else "") + "</li>")
        more = f'<p class="note">另有 {len(found) - MAX_FINDINGS} 条，见 --format json 的输出。</p>' if len(found) > MAX_FINDINGS else ""
        out.append(f'<div class="decision" data-decision="{state}"><p><strong>{DECISION_LABEL[state]}（{len(found)} 处）</strong></p>'
                   f'<ol>{"".join(items)}</ol>{more}</div>')
    return "".join(out)


def decisions_section(result: Audit) -> str:
    """The decisions file's effect over all reports, and the decisions that matched no finding."""
    if result.decisions is None:
        return ""
    from .audit import decision_lines

    lines = decision_lines(result)
    return ('<section id="sec-decisions" aria-labelledby="h-decisions"><h2 id="h-decisions">复核决定</h2>'
            + "".join(f"<p>{esc(line.strip())}</p>" for line in lines) + "</section>")


def report_sections(numbered: list[tuple[int, Audited]], reviewing: bool = False) -> str:
    """Every readable report: its status, chain, what the import could not read, and every finding
    (`reviewing`: grouped by the reviewer's decision), each with its origin and fingerprint (see `review.note`)."""
    from .review import note

    parts = []
    for n, r in numbered:
        if not r.readable:
            continue
        head = f"{_who(r)}（{display_name(r.path)}）：{STATUS_LABEL[r.status]}，{r.summary()}"
        body = [f'<section class="report" id="{_anchor(n)}" data-status="{esc(r.status)}"><h3>{esc(head)}</h3>',
                f'<p class="note">文件 {esc(display_path(r.path))}</p>']
        if r.prior:
            body.append(f'<p class="note">已与上年报告 {esc(display_path(r.prior))} 跨年度核对。</p>')
        elif r.note:
            body.append(f'<p class="note">{esc(r.note)}</p>')
        if r.problems:
            body.append("<p>读取问题：</p><ul>" + "".join(f"<li>{esc(p)}</li>" for p in r.problems) + "</ul>")
        ordered = sorted(r.findings, key=lambda f: f.severity != "error")
        if reviewing and ordered:
            body.append(decided_lists(r))
        elif ordered:
            body.append("<ol>" + "".join(
                f'<li class="{esc(f.severity)}">[{esc(SEVERITY_LABEL.get(f.severity, f.severity))}] {esc(f.message)}'
                f'<span class="note">（{esc(note(f))}）</span></li>' for f in ordered[:MAX_FINDINGS]) + "</ol>")
            if len(ordered) > MAX_FINDINGS:
                body.append(f'<p class="note">另有 {len(ordered) - MAX_FINDINGS} 条，见 --format json 的输出。</p>')
        body.append("</section>")
        parts.append("".join(body))
    return "\n".join(parts) or '<p class="note">没有可读取的报告。</p>'


def html_bytes(result: Audit, title: str = "政府信息公开工作年度报告抽查结果") -> bytes:
    from .rules import load_rules

    numbered: list[tuple[int, Any]] = list(enumerate(result.reports, 1))
    code = result.exit_code()
    kind = "ok" if code == 0 else "warn"
    verdict = {0: "全部报告没有错误。", 1: "有报告存在错误。", 2: "有文件无法读取。"}[code]
    lines = summary_lines(result)
    sections = [
        "<!DOCTYPE html>", '<html lang="zh-CN">', "<head>", '<meta charset="utf-8">',
        f'<meta name="{AUDIT_MARK}" content="1">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}{EXTRA_CSS}</style>", "</head>", "<body>", "<main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">由 xxgk {esc(__version__)} 生成（校验规则 {esc(load_rules().version)}，'
        "报告格式：国办公开办函〔2021〕30号）。</p>",
        f'<div class="status {kind}" id="status"><p><strong>{esc(verdict)}</strong></p>'
        + "".join(f"<p>{esc(line)}</p>" for line in lines[:1] + [x for x in lines[1:] if x.startswith("  无法读取")])
        + "</div>",
        '<section id="sec-bodies" aria-labelledby="h-bodies"><h2 id="h-bodies">各机关各年度报告</h2>',
        bodies_table(result, numbered),
        '<p class="note">点击表中的结论可跳到该报告的问题清单。同一机关相邻两年的报告按跨年度规则核对（上年结转、现行有效件数）。</p>',
        unreadable_list(numbered),
        "</section>",
        roster_section(result),
        decisions_section(result),
        '<section id="sec-findings" aria-labelledby="h-findings"><h2 id="h-findings">各报告发现的问题</h2>',
        report_sections(numbered, reviewing=result.decisions is not None),
        "</section>", "</main>", "</body>", "</html>",
    ]
    return ("\n".join(s for s in sections if s) + "\n").encode("utf-8")
