"""The roll-up as one self-contained HTML page for the district 政务公开 office.

`html_bytes(result)` gives a single UTF-8 page: what went into the total (one row per input file, with
its validation result), the district figures of tables 二, 三 and 四 with the official labels read from
the schema, and three charts drawn here as inline SVG. The page needs nothing else to open: no network,
no other file, no JavaScript; its CSS is inline. Everything that comes from an input file (names, file
names, reasons, messages) is HTML-escaped. The same result always gives the same bytes (no clock time).

Every number cell of the district tables carries `data-fact="<fact id>"`, so the page can be checked
against the totals mechanically.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter
from typing import Any, Iterator

from . import __version__
from .consolidate import INVALID, STATUS_LABEL, Consolidation, Unit, run_id
from .outputset import HTML_META
from .schema import load_schema
from .text import display_name

TOTAL = "total"  # the 总计 column of tables 三 and 四
RECEIVED = "applications.received.total"

# colours (Okabe–Ito, readable with colour-blindness), one meaning each on the whole page: BAR is a
# figure counted in the total (charts 1 and 2), BAR_EXCLUDED one left out of it (chart 1), and chart 3's
# four outcomes have colours of their own, none of them blue or grey
BAR = "#0072b2"
BAR_EXCLUDED = "#a6a6a6"
REVIEW_COLOURS = ("#009e73", "#d55e00", "#cc79a7", "#e69f00")
SHOWN_FINDINGS = 10  # a file's findings shown open; the next ones folded, beyond FOLDED_FINDINGS only counted
FOLDED_FINDINGS = 50

FONT = ('"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
        '"WenQuanYi Micro Hei", "Noto Sans", sans-serif')

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font-family: @FONT@; font-size: 15px; line-height: 1.6;
       color: #1a1a1a; background: #fff; }
main { max-width: 1200px; margin: 0 auto; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid #7f9bb8; }
h3 { font-size: 16px; margin: 20px 0 8px; }
p.meta { color: #444; margin: 4px 0 12px; }
.status { border-radius: 6px; padding: 12px 16px; margin: 12px 0; }
.status p { margin: 4px 0; }
.status.ok { background: #e8f4ea; border: 1px solid #3c8d4f; }
.status.warn { background: #fdecea; border: 2px solid #b3261e; color: #5f1410; }
.status.warn strong.big { font-size: 18px; }
nav ol { margin: 4px 0; padding-left: 24px; columns: 2; }
a { color: #005a8c; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 14px; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
th, td { border: 1px solid #8c8c8c; padding: 4px 8px; vertical-align: middle; }
thead th { background: #eef3f8; text-align: center; }
th[scope="row"] { text-align: left; font-weight: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.excluded th, tr.excluded td { background: #fdf1f0; }
tr.excluded td.state { color: #b3261e; font-weight: bold; }
#units { width: 100%; }
#units thead th { white-space: nowrap; }
#units td.state { min-width: 14em; max-width: 28em; }
#units td.file { min-width: 9em; word-break: break-all; }
#units th[scope="row"] { min-width: 10em; word-break: break-all; }
th.block { background: #eef3f8; text-align: left; }
th.corner { font-size: 12px; font-weight: normal; max-width: 220px; }
th.col { white-space: nowrap; }
th.note { font-size: 12px; font-weight: normal; max-width: 220px; }
.l2 { padding-left: 24px; }
.l3 { padding-left: 44px; }
tfoot th, tfoot td { background: #f2f6fb; font-weight: bold; }
figure { margin: 16px 0 24px; }
figcaption { font-weight: bold; margin-bottom: 4px; }
svg { display: block; max-width: 100%; height: auto; }
.note { color: #555; font-size: 13px; margin: 4px 0; }
details { margin: 6px 0; }
details ol { margin: 4px 0; }
code { font-size: 12px; word-break: break-all; }
.sha td { font-family: "Noto Sans Mono CJK SC", "DejaVu Sans Mono", monospace; font-size: 12px; }
@media print {
  body { padding: 0; }
  .wrap { overflow: visible; }
  figure, table { break-inside: avoid; }
  details { display: block; }
}
""".replace("@FONT@", FONT)


def esc(value: Any) -> str:
    """Any value as HTML text (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any) -> str:
    """A number as the report prints it: integers plain, amounts without trailing zeros; not a number: as given."""
    if value is None:
        return "—"
    if not is_number(value):
        return str(value)
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def text_width(text: str, size: float) -> float:
    """Approximate rendered width of `text` in pixels: CJK characters are one em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.6 * size for ch in text)


def fit(text: str, size: float, width: float) -> str:
    """`text` cut to `width` pixels, with an ellipsis when cut."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def nice_step(top: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about `ticks` intervals up to `top` (> 0)."""
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            step = mult * power
            break
    return max(step, 1)  # counts are whole numbers: no fractional ticks


# -- charts ------------------------------------------------------------------------------------------


class Bar:
    def __init__(self, label: str, value: float, colour: str = BAR, tip: str = "", note: str = ""):
        self.label, self.value, self.colour, self.tip, self.note = label, value, colour, tip or label, note


class Heading:
    def __init__(self, label: str):
        self.label = label


def hbar_chart(cid: str, title: str, desc: str, rows: list[Bar | Heading], axis_label: str,
               unit: str = "件", label_width: int = 300) -> str:
    """A horizontal bar chart as inline SVG, with its title and description for screen readers, a value
    label at the end of every bar and an x axis with ticks and a title. All-zero data shows 无数据."""
    width, right, top, row_h, bar_h = 960, 130, 12, 30, 20
    left = label_width
    plot_w = width - left - right
    bars = [r for r in rows if isinstance(r, Bar)]
    peak = max((b.value for b in bars), default=0)
    empty = not bars or peak <= 0
    height = 90 if empty else top + len(rows) * row_h + 56
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" class="chart" role="img" '
            f'aria-labelledby="{cid}-title {cid}-desc" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" font-size="13">'),
           f'<title id="{cid}-title">{esc(title)}</title>',
           f'<desc id="{cid}-desc">{esc(desc)}</desc>']
    if empty:
        out.append(f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#fafafa" stroke="#ccc"/>')
        out.append(f'<text class="nodata" x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="22" '
                   f'fill="#555">无数据</text>')
        out.append(f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle" fill="#555">'
                   f'{esc(axis_label)}：全部为 0</text>')
        out.append("</svg>")
        return "\n".join(out)
    step = nice_step(peak)
    axis_max = math.ceil(peak / step) * step
    scale = plot_w / axis_max
    plot_bottom = top + len(rows) * row_h
    # grid and ticks
    out.append('<g class="axis" fill="#444" text-anchor="middle">')
    n_ticks = round(axis_max / step)
    for i in range(n_ticks + 1):
        value = step * i
        x = left + value * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{plot_bottom}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{x:.1f}" y="{plot_bottom + 18}">{num(value)}</text>')
    out.append(f'<line x1="{left}" y1="{plot_bottom}" x2="{left + plot_w}" y2="{plot_bottom}" stroke="#444"/>')
    out.append(f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{plot_bottom + 42}" font-weight="bold">'
               f'{esc(axis_label)}</text>')
    out.append("</g>")
    out.append(f'<line x1="{left}" y1="{top - 4}" x2="{left}" y2="{plot_bottom}" stroke="#444"/>')
    for i, row in enumerate(rows):
        y = top + i * row_h
        if isinstance(row, Heading):
            label = fit(row.label, 13, width - 16)
            out.append(f'<rect x="4" y="{y + 4}" width="{text_width(label, 13) + 10:.1f}" height="22" fill="#fff"/>')
            out.append(f'<text class="heading" x="8" y="{y + 20}" font-weight="bold" fill="#1a1a1a">{esc(label)}</text>')
            continue
        label = fit(row.label, 13, left - 18)
        w = max(row.value, 0) * scale
        value_text = f"{num(row.value)} {unit}" + (f"（{row.note}）" if row.note else "")
        out.append(f'<g class="bar"><title>{esc(row.tip)}：{esc(value_text)}</title>')
        out.append(f'<text x="{left - 8}" y="{y + 19}" text-anchor="end" fill="#1a1a1a">{esc(label)}</text>')
        if w > 0:
            out.append(f'<rect x="{left}" y="{y + 5}" width="{w:.1f}" height="{bar_h}" fill="{row.colour}"/>')
        out.append(f'<text class="value" x="{left + w + 6:.1f}" y="{y + 19}" fill="#1a1a1a">{esc(value_text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def figure(svg: str, caption: str, note: str = "") -> str:
    return (f"<figure>\n<figcaption>{esc(caption)}</figcaption>\n{svg}\n"
            + (f'<p class="note">{esc(note)}</p>\n' if note else "") + "</figure>")


def short_label(title: str) -> str:
    """（二）部分公开（区分处理的，…） → 部分公开: the result kind without its number and printed note."""
    title = re.sub(r"^（[一二三四五六七八九十]+）", "", title)
    return re.sub(r"（[^（）]*）$", "", title) or title


def unit_name(unit: Unit) -> str:
    return unit.agency or display_name(unit.path)


def received_chart(result: Consolidation) -> str:
    """Chart 1: applications received (一、本年新收) by unit, descending; invalid units in grey."""
    entries = []
    for unit in result.units:
        value = unit.facts.get(RECEIVED)
        if (unit.used or unit.status == INVALID) and is_number(value):
            entries.append((unit, value))
    entries.sort(key=lambda e: (-e[1], not e[0].used, unit_name(e[0]), e[0].path))
    rows: list[Bar | Heading] = []
    for unit, value in entries:
        if unit.used:
            rows.append(Bar(unit_name(unit), value, BAR, tip=f"{unit_name(unit)}（{display_name(unit.path)}）"))
        else:
            rows.append(Bar(unit_name(unit), value, BAR_EXCLUDED, tip=f"{unit_name(unit)}（{display_name(unit.path)}）",
                            note=f"{STATUS_LABEL[unit.status]}，未计入"))
    total = result.totals.get(RECEIVED, 0)
    desc = ("各单位本年新收政府信息公开申请数量，从多到少：" +
            "；".join(f"{unit_name(u)} {num(v)} 件" + ("" if u.used else "（未计入）") for u, v in entries) +
            f"。计入汇总的单位合计 {num(total)} 件。") if entries else "没有可显示的单位数据。"
    svg = hbar_chart("chart-received", "图1 各单位本年新收政府信息公开申请数量", desc, rows,
                     "本年新收政府信息公开申请数量（件）")
    note = "蓝色：计入汇总的单位；灰色：有错误、未计入汇总的单位（其数字未经核实）。" if any(
        not u.used for u, _ in entries) else "按数量从多到少排列。"
    return figure(svg, "图1 各单位本年新收政府信息公开申请数量（从多到少）", note)


def result_kinds(totals: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(kind path, official label, district total) for each kind of result in 三、本年度办理结果, in the
    schema's order; a kind with item rows (不予公开 …) is the sum of its rows, so a new row counts."""
    schema = load_schema()
    sums: dict[str, Any] = {}
    for row in schema.rows("applications"):
        parts = row.split(".")
        if parts[0] != "results" or row == "results.total":
            continue
        kind = ".".join(parts[:2])
        sums[kind] = sums.get(kind, 0) + (totals.get(f"applications.{row}.{TOTAL}") or 0)
    return [(kind, schema.titles(f"applications.{kind}")[-1], value) for kind, value in sums.items()]


def results_chart(result: Consolidation) -> str:
    """Chart 2: the district's results by kind, with each kind's share of （七）总计."""
    kinds = result_kinds(result.totals)
    grand = result.totals.get(f"applications.results.total.{TOTAL}") or 0
    rows: list[Bar | Heading] = []
    for _, title, value in kinds:
        share = f"占 {value / grand * 100:.1f}%" if grand else ""
        rows.append(Bar(short_label(title), value, BAR, tip=title, note=share))
    desc = ("全区本年度办理结果按类别：" + "；".join(f"{short_label(t)} {num(v)} 件" for _, t, v in kinds)
            + f"。办理结果总计 {num(grand)} 件。")
    svg = hbar_chart("chart-results", "图2 全区本年度办理结果（按类别）", desc, rows, "申请件数（件，申请人情况·总计列）",
                     label_width=160)
    return figure(svg, "图2 全区本年度办理结果（按类别）",
                  "不予公开、无法提供、不予处理、其他处理为表三各分项之和；百分比为占（七）总计的比例。")


def review_groups() -> list[tuple[str, str]]:
    """(row path under reviews, label) for table 四's groups: 行政复议, 行政诉讼·未经复议直接起诉, …"""
    schema = load_schema()
    groups = []
    for row in schema.rows("reviews"):
        group = schema.object(f"reviews.{row}").get("x-group")
        title = schema.titles(f"reviews.{row}")[-1]
        groups.append((row, f"{group}·{title}" if group else title))
    return groups


def reviews_chart(result: Consolidation) -> str:
    """Chart 3: outcomes of 行政复议 and 行政诉讼, one block of bars per group."""
    schema = load_schema()
    rows: list[Bar | Heading] = []
    parts = []
    for row, label in review_groups():
        columns = [c for c in schema.columns(f"reviews.{row}") if c != TOTAL]
        total = result.totals.get(f"reviews.{row}.{TOTAL}") or 0
        rows.append(Heading(f"{label}（共 {num(total)} 件）" if total else f"{label}（无案件）"))
        items = []
        for i, column in enumerate(columns):
            fact = f"reviews.{row}.{column}"
            name = schema.facts[fact].labels[-1]
            value = result.totals.get(fact) or 0
            rows.append(Bar(name, value, REVIEW_COLOURS[i % len(REVIEW_COLOURS)], tip=f"{label} {name}"))
            items.append(f"{name} {num(value)} 件")
        parts.append(f"{label}：" + "，".join(items))
    desc = "全区政府信息公开行政复议、行政诉讼结果。" + "；".join(parts) + "。"
    svg = hbar_chart("chart-reviews", "图3 行政复议、行政诉讼结果", desc, rows, "案件数（件）", label_width=160)
    return figure(svg, "图3 政府信息公开行政复议、行政诉讼结果")


# -- tables ------------------------------------------------------------------------------------------


def cell(fact_id: str, totals: dict[str, Any], extra: str = "") -> str:
    cls = "num" + (f" {extra}" if extra else "")
    return f'<td class="{cls}" data-fact="{esc(fact_id)}">{esc(num(totals.get(fact_id)))}</td>'


def official_tables(totals: dict[str, Any]) -> dict[str, str]:
    """Tables 二, 三 and 四 of the district's figures, drawn as the published report draws them."""
    from .publish import TABLE_ROOTS, html_table, tables
    from .report import from_document

    drawn = tables(from_document(load_schema().nest(totals)))
    return {part: html_table(drawn[part], f"table-{n}", labelled_by=f"h-{n}")
            for n, part in zip((2, 3, 4), TABLE_ROOTS, strict=True)}


def fees_table(totals: dict[str, Any]) -> str:
    """六、其他需要报告的事项·信息处理费: the three fee figures."""
    schema = load_schema()
    facts = [f for f in schema if f.id.startswith("fees.") and f.numeric]
    if not facts:
        return ""
    out = ['<div class="wrap"><table id="table-fees" class="district">',
           f"<caption>{esc(facts[0].labels[0])}</caption>", "<tbody>"]
    for fact in facts:
        out.append(f'<tr><th scope="row">{esc(fact.labels[-1])}</th>{cell(fact.id, totals)}</tr>')
    out.append("</tbody></table></div>")
    return "\n".join(out)


def status_text(unit: Unit) -> str:
    label = STATUS_LABEL[unit.status]
    return label if unit.used else f"{label}，未计入：{unit.reason}" if unit.reason else f"{label}，未计入"


def units_table(result: Consolidation) -> str:
    """The inputs: one row per file, in the order they were read, with the total of the units used."""
    out = ['<div class="wrap"><table id="units">',
           f"<caption>各单位报送及校验情况（共 {len(result.units)} 个文件）</caption>",
           "<thead><tr>" + "".join(f'<th scope="col">{h}</th>' for h in (
               "序号", "单位名称", "机关代码", "来源文件", "校验结果", "错误数", "警告数", "本年新收申请")) + "</tr></thead>",
           "<tbody>"]
    for n, unit in enumerate(result.units, 1):
        read = bool(unit.facts) or bool(unit.findings)
        errors = len(unit.errors)
        warnings = len(unit.findings) - errors
        received = unit.facts.get(RECEIVED)
        name = esc(unit.agency) if unit.agency else '<span class="note">（无法读取单位名称）</span>'
        if unit.sources:
            name += f'<br><span class="note">本文件为汇总，含 {len(unit.sources)} 个下级单位（见汇总工作簿“明细”）</span>'
        out.append(
            f'<tr class="{"used" if unit.used else "excluded"}" data-status="{esc(unit.status)}">'
            f'<td class="num">{n}</td><th scope="row">{name}</th><td>{esc(unit.agency_code or "—")}</td>'
            f'<td class="file">{esc(display_name(unit.path))}</td><td class="state">{esc(status_text(unit))}</td>'
            f'<td class="num">{errors if read else "—"}</td><td class="num">{warnings if read else "—"}</td>'
            f'<td class="num received">{esc(num(received))}</td></tr>')
    out.append("</tbody>")
    out.append(f'<tfoot><tr><th scope="row" colspan="7">合计（计入汇总的 {len(result.used)} 个单位）</th>'
               f'<td class="num" data-fact="{RECEIVED}">{esc(num(result.totals.get(RECEIVED)))}</td></tr></tfoot>')
    out.append("</table></div>")
    return "\n".join(out)


def _finding_item(f) -> str:
    from .review import note

    return (f'<li>[{"错误" if f.severity == "error" else "警告"}] {esc(f.message)}'
            f'<span class="note">（{esc(note(f))}）</span></li>')


def findings_list(result: Consolidation) -> Iterator[str]:
    """Each file's findings, summarised, one file at a time (the page is written piece by piece): the
    counts, how many per rule, the first SHOWN_FINDINGS (errors first) and the next ones folded; a file
    with hundreds of errors does not bury the others."""
    listed = False
    for unit in result.units:
        if not unit.findings:
            continue
        ordered = sorted(unit.findings, key=lambda f: f.severity != "error")
        errors = len(unit.errors)
        head = f"{unit_name(unit)}（{display_name(unit.path)}）：{errors} 处错误、{len(unit.findings) - errors} 处警告"
        by_rule = Counter(f.rule for f in ordered)
        rules = "、".join(f"{rule} {n} 处" for rule, n in by_rule.most_common(8))
        rules += f" 等 {len(by_rule)} 条规则" if len(by_rule) > 8 else ""
        shown, folded = ordered[:SHOWN_FINDINGS], ordered[SHOWN_FINDINGS:FOLDED_FINDINGS]
        body = [f'<p class="note">按规则：{esc(rules)}</p>' if len(ordered) > SHOWN_FINDINGS else "",
                f"<ol>{''.join(map(_finding_item, shown))}</ol>"]
        if folded:
            body.append(f'<details class="more"><summary>其余 {len(ordered) - SHOWN_FINDINGS} 条中的前 {len(folded)} 条</summary>'
                        f'<ol start="{SHOWN_FINDINGS + 1}">{"".join(map(_finding_item, folded))}</ol></details>')
        if len(ordered) > FOLDED_FINDINGS:
            body.append(f'<p class="note">另有 {len(ordered) - FOLDED_FINDINGS} 条未列出：请用 xxgk validate 校验该文件，'
                        "查看全部问题。</p>")
        listed = True
        yield (f"<details class=\"file\"{' open' if not unit.used else ''}><summary>{esc(head)}</summary>"
               + "".join(body) + "</details>")
    if not listed:
        yield '<p class="note">所有文件均无错误和警告。</p>'


def review_section(result: Consolidation) -> Iterator[str]:
    """复核说明: the table of how many warnings each unit has explained and open, then one unit at a time
    each explained warning with its explanation and the open ones apart (see `review`), each with its rule,
    cells, origin and fingerprint."""
    from .review import note

    warned = [u for u in result.units if u.explained_warnings or u.open_warnings]
    if not warned:
        yield '<p class="note">各单位均无警告。</p>'
        return
    rows = [f'<tr data-status="{esc(unit.status)}"><th scope="row">{esc(unit_name(unit))}</th>'
            f'<td class="file">{esc(display_name(unit.path))}</td>'
            f'<td class="num explained">{len(unit.explained_warnings)}</td><td class="num open">{len(unit.open_warnings)}</td></tr>'
            for unit in warned]
    yield ('<div class="wrap"><table id="review"><caption>各单位警告的复核说明</caption><thead><tr>'
           '<th scope="col">单位名称</th><th scope="col">来源文件</th><th scope="col">已说明</th><th scope="col">未说明</th>'
           f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    for unit in warned:
        explained, open_ = unit.explained_warnings, unit.open_warnings
        items = [f'<li class="explained">[已说明] {esc(f.message)}<span class="note">（{esc(note(f))}）</span>'
                 f'<br>说明：{esc(unit.explained[f.fingerprint])}</li>' for f in explained]
        items += [f'<li class="open">[未说明] {esc(f.message)}<span class="note">（{esc(note(f))}）</span></li>'
                  for f in open_]
        yield (f"<details{' open' if explained else ''}><summary>{esc(unit_name(unit))}：已说明 {len(explained)} 处、"
               f"未说明 {len(open_)} 处</summary><ul>{''.join(items)}</ul></details>")


def roster_section(result: Consolidation) -> str:
    if not (result.missing or result.unknown):
        return ""
    out = ['<h3 id="roster">与单位名单核对</h3>']
    if result.missing:
        out.append(f'<p><strong>名单中没有报送文件的单位（{len(result.missing)} 个）：</strong></p><ul id="roster-missing">'
                   + "".join(f"<li>{esc(n)}</li>" for n in result.missing) + "</ul>")
    if result.unknown:
        out.append(f'<p><strong>不在名单中的文件（{len(result.unknown)} 个）：</strong></p><ul id="roster-unknown">'
                   + "".join(f"<li>{esc(n)}</li>" for n in result.unknown) + "</ul>")
    return "\n".join(out)


def hashes_table(result: Consolidation) -> str:
    rows = "".join(f'<tr><th scope="row">{esc(display_name(u.path))}</th><td><code>{esc(u.sha256 or "—")}</code></td></tr>'
                   for u in result.units)
    return ('<details><summary>各输入文件的 SHA-256 校验值</summary><div class="wrap"><table class="sha">'
            '<thead><tr><th scope="col">来源文件</th><th scope="col">SHA-256</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div></details>")


def status_banner(result: Consolidation) -> str:
    used, excluded = len(result.used), result.excluded
    if result.complete:
        body = [(f'<div class="status ok" id="status"><p><strong>汇总完整：</strong>全部 {len(result.units)} 个输入文件'
                 "均校验通过，已计入下列合计。</p>")]
    else:
        counts = Counter(u.status for u in excluded)
        kinds = "、".join(f"{STATUS_LABEL[s]} {n} 个" for s, n in sorted(counts.items()))
        body = ['<div class="status warn" id="status" role="alert">',
                (f'<p><strong class="big">注意：本汇总不完整。</strong>{len(excluded)} 个输入文件未计入汇总（{esc(kinds)}），'
                 f"下列合计只包含校验通过的 {used} 个单位，不是全部报送单位的合计。</p>")]
        if result.allow_invalid:
            body.append("<p>本次汇总按要求只汇总了通过校验的文件，所以虽有文件未计入，仍生成了合计。"
                        "请改正或补齐未计入的文件后重新汇总，再据此发布。</p>")
        else:
            body.append("<p>这些合计仅供核对，不应据此发布：请改正或补齐未计入的文件后重新汇总。</p>")
    if result.missing:
        body.append(f"<p><strong>另有 {len(result.missing)} 个名单中的单位没有报送文件</strong>（见“与单位名单核对”）。</p>")
    body.append("</div>")
    return "\n".join(body)


def html_bytes(result: Consolidation) -> bytes:
    """The roll-up as one self-contained UTF-8 HTML page (see module doc)."""
    return b"".join(html_chunks(result))


def html_chunks(result: Consolidation) -> Iterator[bytes]:
    """The page of `html_bytes` piece by piece, each built when the writer reaches it: a page for 10,000
    units runs to tens of megabytes, and only one section at a time is held in memory."""
    from .rules import load_rules

    year = result.year if result.year is not None else "（年度不明）"
    title = f"{result.agency or '（未填汇总机关名称）'} {year} 年政府信息公开工作年度报告汇总"
    district = official_tables(result.totals)
    meta = (f"共 {len(result.units)} 个输入文件，计入汇总 {len(result.used)} 个单位、未计入 {len(result.excluded)} 个。"
            f"由 xxgk {__version__} 生成（校验规则 {load_rules().version}，报告格式：国办公开办函〔2021〕30号）。")
    for piece in _pieces(result, title, meta, district):
        if piece:
            yield (piece + "\n").encode("utf-8")


def _pieces(result: Consolidation, title: str, meta: str, district: dict) -> Iterator[str]:
    """The page's pieces in order (an empty one is left out by `html_chunks`)."""
    yield "<!DOCTYPE html>"
    yield '<html lang="zh-CN">'
    yield "<head>"
    yield '<meta charset="utf-8">'
    yield f'<meta name="{HTML_META}" content="{run_id(result)}">'  # the run whose outputs it belongs to
    yield '<meta name="viewport" content="width=device-width, initial-scale=1">'
    yield f"<title>{esc(title)}</title>"
    yield f"<style>{CSS}</style>"
    yield "</head>"
    yield "<body>"
    yield "<main>"
    yield f"<h1>{esc(title)}</h1>"
    yield f'<p class="meta">{esc(meta)}</p>'
    yield status_banner(result)
    yield ('<nav aria-label="目录"><ol>'
           '<li><a href="#sec-units">各单位报送及校验情况</a></li><li><a href="#sec-charts">图表</a></li>'
           '<li><a href="#sec-2">二、主动公开政府信息情况</a></li><li><a href="#sec-3">三、收到和处理政府信息公开申请情况</a></li>'
           '<li><a href="#sec-4">四、政府信息公开行政复议、行政诉讼情况</a></li><li><a href="#sec-fees">信息处理费</a></li>'
           '<li><a href="#sec-findings">附：校验发现的问题及文件校验值</a></li>'
           "</ol></nav>")
    yield '<section id="sec-units" aria-labelledby="h-units">'
    yield '<h2 id="h-units">各单位报送及校验情况</h2>'
    yield units_table(result)
    yield '<p class="note">“未计入”的文件不在任何合计中；各文件的错误和警告见页末“校验发现的问题”。</p>'
    yield roster_section(result)
    yield "</section>"
    yield '<section id="sec-charts" aria-labelledby="h-charts">'
    yield '<h2 id="h-charts">图表</h2>'
    yield received_chart(result)
    yield results_chart(result)
    yield reviews_chart(result)
    yield "</section>"
    yield '<section id="sec-2" aria-labelledby="h-2"><h2 id="h-2">全区合计：二、主动公开政府信息情况</h2>'
    yield district["二"]
    yield "</section>"
    yield '<section id="sec-3" aria-labelledby="h-3"><h2 id="h-3">全区合计：三、收到和处理政府信息公开申请情况</h2>'
    yield district["三"]
    yield "</section>"
    yield '<section id="sec-4" aria-labelledby="h-4"><h2 id="h-4">全区合计：四、政府信息公开行政复议、行政诉讼情况</h2>'
    yield district["四"]
    yield "</section>"
    yield '<section id="sec-fees" aria-labelledby="h-fees"><h2 id="h-fees">全区合计：信息处理费</h2>'
    yield fees_table(result.totals)
    yield "</section>"
    yield '<section id="sec-findings" aria-labelledby="h-findings"><h2 id="h-findings">附：校验发现的问题及文件校验值</h2>'
    yield from findings_list(result)
    yield hashes_table(result)
    yield "</section>"
    yield '<section id="sec-review" aria-labelledby="h-review"><h2 id="h-review">附：警告的复核说明（已说明与未说明）</h2>'
    yield from review_section(result)
    yield "</section>"
    yield "</main>"
    yield "</body>"
    yield "</html>"
