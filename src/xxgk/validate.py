"""The validator: JSON Schema type checks (rule 5) and the rule file's checks, as findings on cells."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from functools import cache
from typing import TYPE_CHECKING, Any


from dataclasses import replace

from .findings import Finding, Result, fingerprint_of
from .layout import load_layout
from .rules import MEASURES, Comparison, Instance, Term, load_rules, value_of
from .schema import load_schema
from .text import CONTROL

if TYPE_CHECKING:
    from .report import Report

_BLANK_MARKS = {"/", "／", "无", "-", "－", "—", "——", "空", "N/A", "n/a", "\\"}


@cache
def _validator():
    import jsonschema  # only needed when a document is not plainly valid

    return jsonschema.Draft202012Validator(load_schema().document)


def validate(report: "Report", prior: "Report | None" = None, local: "tuple[dict, ...] | list[dict]" = (),
             strict: bool = False) -> Result:
    """Every finding on `report`; with `prior` (last year's report) the cross-year rules too.

    `local`: local rule files (checked documents, see localrules), applied with the rules the workbook
    itself carries (a distributed template's embedded local rules) on top of the national ones.
    Each finding carries its fingerprint; the workbook's 复核说明 (see `review`) marks the warnings it
    explains. `strict` (or the template's own setting) makes open warnings block finalising."""
    from .localrules import local_instances

    result = Result(str(report.path) if report.path else None)
    published = is_published(report)
    result.findings.extend(type_findings(report))
    facts = report.facts
    if published:
        result.findings.extend(_unstated_fees(report))
        facts = {k: v for k, v in facts.items() if not (k.startswith("fees.") and v is None)}  # unstated = absent
    prior_facts = prior.facts if prior is not None else (report.prior_hints or None)
    if prior is not None:
        result.findings.extend(_prior_year_findings(report, prior))
    prior_derived = prior.derived if prior is not None else frozenset()
    numbers = {fact_id: value if type(value) is int else value_of(value) for fact_id, value in facts.items()}  # int: as is
    national = load_rules().instances
    extra = local_instances(report, local)
    plans = (*_linear_plans(), *(None for _ in extra))  # local rules always go through `judge`
    for inst, plan in zip((*national, *extra), plans, strict=True):
        if "prior" in inst.rule.requires and prior_facts is None:
            continue
        if plan is not None and _passes(plan, numbers):
            continue  # what `judge` says too: every figure there, the comparison holds
        status, finding = judge(inst, facts, prior_facts, report.derived, prior_derived, published=published)
        if finding is None and status == BLANK and published:
            finding = _unverifiable(inst, facts, report.marks)
        if finding:
            result.findings.append(_stamped(finding, inst.key, report.facts))
    result.findings = [f if f.fingerprint else _stamped(f, f.rule, report.facts) for f in result.findings]
    from . import review

    result.strict = strict or review.is_strict(report.identity)
    return review.apply(result, report.explanations)


def _stamped(finding: Finding, instance: str, facts: dict) -> Finding:
    """The finding with its fingerprint: the instance, the values of the cells it names (a text by the
    figures the rule read from it, its `actual`/`expected`), and the compared sides."""
    schema = load_schema().facts
    values = [None if f in schema and schema[f].kind == "text" else facts.get(f) for f in finding.facts]
    # a national finding's fingerprint names no origin; a local one names its rule file's issuer
    origin = "" if finding.origin == "national" else f"{finding.origin}:{finding.issuer}"
    return replace(finding, fingerprint=fingerprint_of(instance, finding.facts, values, finding.expected,
                                                       finding.actual, origin))


@cache
def _linear_plans() -> tuple:
    """Per rule instance, the comparison precompiled when it is linear in this report's facts and constants
    and has no condition: ((coef, fact or None), ...) for each side and the operator; else None."""
    plans = []
    for inst in load_rules().instances:
        terms = inst.check.actual + inst.check.expected
        if inst.when is not None or any(t.source not in ("fact", "const") for t in terms):
            plans.append(None)
            continue
        side = lambda ts: tuple((t.coef, t.fact if t.source == "fact" else None) for t in ts)  # noqa: E731
        plans.append((side(inst.check.actual), inst.check.op, side(inst.check.expected)))
    return tuple(plans)


def _passes(plan: tuple, numbers: dict) -> bool:
    """True when every figure of a linear comparison is a number and it holds, summed as `_side` sums;
    False means: ask `judge` (a figure missing or not a number, or the comparison fails)."""
    actual, op, expected = plan
    sides = []
    for terms in (actual, expected):
        total: float = 0
        for coef, fact_id in terms:
            if fact_id is None:
                total += coef
                continue
            value = numbers.get(fact_id)
            if value is None:
                return False
            total += coef * value
        sides.append(total)
    return _holds(sides[0], op, sides[1])


def is_published(report: "Report") -> bool:
    """Read from a published document (`import_report`), not filled in by a clerk."""
    return getattr(report, "source", "filled") == "published"


# -- published reports: what the body printed or left unstated -------------------


def _mark_words(fact_ids: list[str], marks: dict[str, str]) -> str:
    """What the published table printed in these cells, in words: 为空白 / 为“/” / 没有数字."""
    found = {marks[f] for f in fact_ids if f in marks}
    if len(found) == 1 and all(f in marks for f in fact_ids):
        mark = found.pop()
        return "为空白" if mark == "" else f"为“{mark}”"
    return "没有数字（空白、“/”、“-”、“——”或“不适用”，或未能读出）"


def _published_blank(fact_id: str, marks: dict[str, str]) -> str:
    """value.type's problem for a cell a published table left without a number."""
    return f"公布的表格中此格{_mark_words([fact_id], marks)}；按规定格式，没有发生的事项应填 0"


def _fee_title(fact) -> str:
    """"信息处理费：本年度发出收费通知的件数" -> "本年度发出收费通知的件数"."""
    return fact.labels[-1].split("：", 1)[-1]


def _unstated_fees(report: "Report") -> list[Finding]:
    """A fee figure the text of 六 does not state: the report does not state it (not "未填写", which reads
    as a forgotten cell). A warning: the format asks for the fee situation in words, not in a table."""
    schema, layout, rule = load_schema(), load_layout(), load_rules().rule("value.type")
    out = []
    for fact in schema:
        if fact.id.startswith("fees.") and fact.numeric and report.facts.get(fact.id) is None:
            out.append(Finding(
                rule.id, "warning",
                f"六、其他需要报告的事项：报告未说明{_fee_title(fact)}（按《政府信息公开信息处理费管理办法》应报告收取信息处理费的情况）",
                (fact.id,), (layout.ref(fact.id),), expected_text(fact), None))
    return out


def _unverifiable(inst: Instance, facts: dict, marks: dict[str, str]) -> Finding | None:
    """A rule that needs a cell the published table left without a number: 无法核对, naming the cells,
    rather than a sum over what is there. None when the blank is not a table cell, or when a text term
    finds no sentence (the rule has nothing to check then, as for any report)."""
    schema, layout = load_schema(), load_layout()
    cells = [f for f in inst.facts
             if f in facts and facts[f] is None and schema.facts[f].numeric and not f.startswith("fees.")]
    if not cells:
        return None
    for comparison in filter(None, (inst.check, inst.when)):
        for term in comparison.actual + comparison.expected:
            if term.source in ("text", "parts"):
                reader = _number_in_text if term.source == "text" else _parts_in_text
                if reader(facts.get(term.fact), term.pattern) is None:
                    return None
    named = schema.describe(cells[0]) + (f" 等 {len(cells)} 格" if len(cells) > 1 else "")
    statement = inst.rule.statement.format(**dict(inst.bindings))
    return Finding(
        inst.rule.id, "warning",
        f"无法核对「{statement}」：公布的表格中{named}{_mark_words(cells, marks)}",
        tuple(cells), tuple(layout.ref(f) for f in cells), None, None)


# -- rule 5 and the document's shape: the JSON Schema ----------------------------


_FACT_KEYWORDS = {"type", "minimum", "maximum", "const", "minLength", "maxLength"}
_ANNOTATIONS = {"title", "description", "$ref", "x-def", "x-group", "x-block", "x-note", "x-header", "x-row-header"}


@cache
def _fact_checks() -> dict[str, Any] | None:
    """Per fact, a predicate equivalent to its schema node; None if a node uses any other keyword."""
    checks = {}
    for fact in load_schema():
        node = fact.node
        if set(node) - _FACT_KEYWORDS - _ANNOTATIONS:
            return None
        checks[fact.id] = _predicate(node)
    return checks


def _predicate(node: dict):
    kind, low, high = node.get("type"), node.get("minimum"), node.get("maximum")
    const, min_len, max_len = node.get("const"), node.get("minLength"), node.get("maxLength")

    def ok(value: Any) -> bool:
        if "const" in node and not (type(value) is type(const) and value == const):
            return False
        if kind in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if kind == "integer" and isinstance(value, float) and not value.is_integer():
                return False
            if (low is not None and value < low) or (high is not None and value > high):
                return False
        elif kind == "string":
            if not isinstance(value, str) or CONTROL.search(value):
                return False
            if (min_len is not None and len(value) < min_len) or (max_len is not None and len(value) > max_len):
                return False
        return True

    if kind in ("integer", "number") and "const" not in node:
        general = ok

        def ok(value: Any) -> bool:  # the commonest case first: a figure that is an int (not a bool)
            if type(value) is int:
                return (low is None or value >= low) and (high is None or value <= high)
            return general(value)

    return ok


def _plainly_valid(report: "Report") -> bool:
    """The common case, decided without running jsonschema: every fact present and of its type, nothing else.

    Only when this says no does the full JSON Schema validation run (it then names each problem).
    """
    checks = _fact_order()
    if checks is None:
        return False
    facts = report.facts
    for fact_id, required, check in checks:
        value = facts.get(fact_id, _ABSENT)
        if value is _ABSENT:
            if required:
                return False
        elif not check(value):
            return False
    return report.canonical or load_schema().nest(facts) == report.document


_ABSENT = object()


@cache
def _fact_order() -> tuple | None:
    """(fact id, required, predicate) in the schema's order; None as `_fact_checks`."""
    checks = _fact_checks()
    return None if checks is None else tuple((f.id, f.required, checks[f.id]) for f in load_schema())


def type_findings(report: "Report") -> list[Finding]:
    if _plainly_valid(report):
        return []
    schema, layout = load_schema(), load_layout()
    rule = load_rules().rule("value.type")
    by_fact: dict[str, list] = defaultdict(list)
    findings = []
    for error in _validator().iter_errors(report.document):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            for key in error.validator_value:
                if isinstance(error.instance, dict) and key not in error.instance:
                    missing = f"{path}.{key}" if path else key
                    ids = [f for f in schema.facts if f == missing or f.startswith(missing + ".")]
                    if not ids:  # beside the facts (e.g. an entry of the 复核说明, "explanations")
                        findings.append(Finding(rule.id, rule.severity, f"「{path or '文档'}」结构不符合 2021 格式：缺少「{key}」",
                                                (), (), key, None))
                    ids = [f for f in ids if f not in report.derived]
                    if ids:
                        what = schema.describe(ids[0]) if len(ids) == 1 else f"「{' '.join(schema.titles(missing))}」（{len(ids)} 项）"
                        findings.append(Finding(
                            rule.id, rule.severity, rule.message.format(fact=what, problem="缺失，未填写"),
                            tuple(ids), tuple(layout.ref(f) for f in ids), expected_text(schema.facts[ids[0]]), None))
        elif error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            where = f"「{path}」下" if path else ""
            findings.append(Finding(
                rule.id, rule.severity,
                f"{where}有不属于 2021 格式的字段：{'、'.join(extra)}（无法对应到模板的任何单元格）",
                (), (), "2021 格式规定的字段", extra))
        elif path in schema.facts:
            by_fact[path].append(error)
        else:
            findings.append(Finding(
                rule.id, rule.severity, f"「{path or '文档'}」结构不符合 2021 格式：应为{_json_type(error)}",
                (), (), _json_type(error), _short(error.instance)))
    for fact_id, value in report.facts.items():  # JSON Schema has no word for them: see `_control_problem`
        if not schema.facts[fact_id].numeric and isinstance(value, str) and CONTROL.search(value):
            by_fact.setdefault(fact_id, [])
    published = is_published(report)
    for fact_id, errors in by_fact.items():
        if fact_id in report.derived:
            continue  # a template sum: a sum of counts is a count unless a part is wrong, and the part carries that
        fact = schema.facts[fact_id]
        value = errors[0].instance if errors else report.facts[fact_id]
        if published and value is None and fact.numeric:
            if fact_id.startswith("fees."):
                continue  # not stated in 六: `_unstated_fees` says so
            findings.append(Finding(
                rule.id, rule.severity, rule.message.format(fact=schema.describe(fact_id),
                                                            problem=_published_blank(fact_id, report.marks)),
                (fact_id,), (layout.ref(fact_id),), expected_text(fact), None))
            continue
        problems = [_problem(fact, value, errors)] if errors else []
        if not fact.numeric and isinstance(value, str) and CONTROL.search(value):
            problems.append(_control_problem(value))
        findings.append(Finding(
            rule.id, rule.severity,
            rule.message.format(fact=schema.describe(fact_id), problem="；".join(problems)),
            (fact_id,), (layout.ref(fact_id),), expected_text(fact), value))
    order = {f: i for i, f in enumerate(schema.facts)}
    findings.sort(key=lambda f: order.get(f.facts[0], -1) if f.facts else -1)
    return findings


def expected_text(fact) -> str:
    """What a fact must hold, in words: 不小于 0 的整数, 2021–2100 之间的整数…"""
    node = fact.node
    if fact.kind == "count":
        return "不小于 0 的整数"
    if fact.kind == "amount":
        return "不小于 0 的数"
    if fact.kind == "integer":
        return f"{node.get('minimum')}–{node.get('maximum')} 之间的整数"
    if fact.kind == "const":
        return str(node["const"])
    return "文字"


def _problem(fact, value: Any, errors: list) -> str:
    kinds = {e.validator for e in errors}
    if value is None:
        return "未填写；没有发生的事项应填 0" if fact.kind in ("count", "amount") else "未填写"
    if fact.kind == "const":
        return f"应为「{fact.node['const']}」（{fact.node.get('description', '')}），实际为「{value}」"
    if isinstance(value, bool):
        return f"应为数字，实际为逻辑值 {'TRUE' if value else 'FALSE'}"
    if isinstance(value, str) and fact.numeric:
        return _text_in_number_cell(value)
    if isinstance(value, (int, float)) and fact.numeric:
        problems = []
        if "type" in kinds and fact.kind in ("count", "integer"):
            problems.append(f"应为整数，实际为 {value:g}")
        if "minimum" in kinds and value < 0:
            problems.append(f"不能为负数，实际为 {value:g}")
        elif "maximum" in kinds and fact.kind in ("count", "amount"):
            problems.append(f"数值大得不合常理（{value:g}），请核对是否多打了数字或单元格格式有误")
        elif "minimum" in kinds or "maximum" in kinds:
            problems.append(f"应在 {fact.node.get('minimum')}–{fact.node.get('maximum')} 之间，实际为 {value:g}")
        if problems:
            return "；".join(problems)
    if "maxLength" in kinds and isinstance(value, str):
        return f"文字过长：{len(value)} 字，最多 {fact.node['maxLength']} 字"
    if "minLength" in kinds:
        return "未填写"
    return f"应为{expected_text(fact)}，实际为「{_short(value)}」"


def _control_problem(text: str) -> str:
    """Control characters (a Word soft line break is \\v) that no workbook or Word file can hold, located
    by the text before the first one: a writer would have to drop them, so the report must not carry them."""
    found = CONTROL.findall(text)
    first = CONTROL.search(text)
    before = CONTROL.sub("", text[max(0, first.start() - 12):first.start()]).strip()
    codes = "、".join(sorted({f"U+{ord(c):04X}" for c in found}))
    where = f"，第一个在「{before}」之后" if before else "，第一个在开头"
    return (f"含有 {len(found)} 个不可见的控制字符（{codes}，如从 Word 复制来的软回车）{where}："
            "工作簿和 Word 文件无法保存这些字符，请删除或改为普通换行")


def _text_in_number_cell(text: str) -> str:
    stripped = text.strip()
    if stripped == "":
        return "只有空格，未填写数字；没有发生的事项应填 0"
    if stripped.startswith("="):
        return f"是公式「{stripped}」，但文件中没有保存计算结果：请在 Excel 中打开、确认数值后保存，或直接填数字"
    if re.fullmatch(r"#[A-Z/0!?]+[!?A-Z]?", stripped) or stripped == "#错误":
        return f"公式出错「{stripped}」，应填数字"
    if stripped in _BLANK_MARKS:
        return f"不能填「{stripped}」，没有发生的事项应填 0"
    normal = unicodedata.normalize("NFKC", stripped)
    if normal != stripped and re.fullmatch(r"-?\d+(\.\d+)?", normal):
        return f"含全角字符「{stripped}」，应填半角数字 {normal}"
    if re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        return f"数字「{text}」被存成了文本，应以数字格式填写"
    if re.match(r"-?\d", normal):
        return f"应只填数字，不带单位或文字，实际为「{stripped}」"
    return f"应填数字，实际为文字「{_short(stripped)}」"


def _json_type(error) -> str:
    return {"object": "对象", "array": "数组", "string": "文字", "integer": "整数", "number": "数"}.get(
        str(error.schema.get("type")), str(error.schema.get("type", "正确的结构")))


def _short(value: Any, limit: int = 40) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return value


# -- the rule file ------------------------------------------------------------


def _prior_year_findings(report: "Report", prior: "Report") -> list[Finding]:
    year, prior_year = report.facts.get("year"), prior.facts.get("year")
    if isinstance(year, int) and isinstance(prior_year, int) and prior_year != year - 1:
        return [Finding("prior.year", "warning",
                        f"作为上年报告提供的文件年度为 {prior_year}，本报告年度为 {year}，应为 {year - 1} 年的报告",
                        ("year",), (load_layout().ref("year"),), year - 1, prior_year)]
    return []


def _side(terms: tuple[Term, ...], facts: dict, prior: dict | None) -> tuple[Any, str | None]:
    """(the side's value or None when it cannot be computed, the quoted sentence of a text term)."""
    total: float = 0
    quote = None
    for term in terms:
        if term.source == "const":
            total += term.coef
            continue
        if term.source in ("text", "parts"):
            found = (_number_in_text if term.source == "text" else _parts_in_text)(facts.get(term.fact), term.pattern)
            if found is None:
                return None, None
            number, quote = found
            total += term.coef * number
            continue
        if term.source in MEASURES:
            text = facts.get(term.fact)
            if not isinstance(text, str):
                return None, None
            number, said = MEASURES[term.source](text, term.pattern)
            quote = quote or said or None
            total += term.coef * number
            continue
        source = prior if term.source == "prior" else facts
        value = value_of(source.get(term.fact)) if source is not None else None
        if value is None:
            return None, None
        total += term.coef * value
    return total, quote


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence(s) around text[start:end], for quoting."""
    first = max(text.rfind(p, 0, start) for p in "。；\n") + 1
    ends = [i for i in (text.find(p, end) for p in "。；\n") if i >= 0]
    return text[first:(min(ends) + 1 if ends else len(text))].strip()


def _number_in_text(text: Any, pattern: str) -> tuple[int, str] | None:
    """The number a sentence of the text states (its first match), and the sentence."""
    from .rules import parse_number, stated_number

    if not isinstance(text, str):
        return None
    for match in re.finditer(pattern, text):
        stated = stated_number(match)
        number = parse_number(stated) if stated else None
        if number is not None:
            return number, _sentence(text, match.start(), match.end())
    return None


def _parts_in_text(text: Any, pattern: str) -> tuple[int, str] | None:
    """The sum of the counts a text enumerates right after `pattern` (e.g. "…306条。主要包括…11条、24条…")."""
    from .rules import NUMBER, parse_number

    if not isinstance(text, str):
        return None
    match = re.search(pattern, text)
    if not match:
        return None
    stop = min([i for i in (text.find(p, match.end()) for p in "。；\n") if i >= 0] or [len(text)])
    counts = [parse_number(m.group(1)) for m in re.finditer(NUMBER + r"\s*[条件个篇项]", text[match.end():stop])]
    counts = [c for c in counts if c is not None]
    if len(counts) < 2:
        return None
    return sum(counts), _sentence(text, match.start(), stop)


def text_reading(inst: Instance, facts: dict) -> tuple[list[int], str] | None:
    """What a text rule (rule 9) reads in the texts: the figure of each text term, in order, and the
    quoted sentence; None when a term finds no sentence (the rule then says nothing). For tests and audits."""
    figures, quote = [], None
    for term in inst.check.actual + inst.check.expected:
        if term.source not in ("text", "parts"):
            continue
        found = (_number_in_text if term.source == "text" else _parts_in_text)(facts.get(term.fact), term.pattern)
        if found is None:
            return None
        figures.append(found[0])
        quote = quote or found[1]
    return (figures, quote) if figures else None


def _holds(actual: float, op: str, expected: float) -> bool:
    if isinstance(actual, float) or isinstance(expected, float):
        close = math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-6)
        if op == "==":
            return close
        if close:
            return op in ("<=", ">=")
    return {"==": actual == expected, "<=": actual <= expected, ">=": actual >= expected,
            "<": actual < expected, ">": actual > expected}[op]


def _number(value: float) -> int | float:
    if abs(value) >= 1e15:  # beyond exact integers: keep it a float, shown as 1e+300
        return float(value)
    return int(value) if float(value).is_integer() else round(value, 6)


PASS, FAIL, BLANK, INVALID, NOT_APPLICABLE = "pass", "fail", "blank", "invalid", "n/a"


def _state(comparison: Comparison, facts: dict, prior: dict | None, derived: frozenset,
           prior_derived: frozenset) -> str | None:
    """BLANK if a value the comparison needs is missing, INVALID if one is not a number, else None.

    A template sum (in `derived`) stands for the cells it adds up: those are looked at instead.
    """
    states: set[str] = set()

    def look(fact_id: str, source: dict | None, sums: frozenset) -> None:
        value = None if source is None else source.get(fact_id)
        if fact_id in sums and value_of(value) is None:
            for term in load_rules().computed()[fact_id]:
                look(term.fact, source, sums)
        elif value is None:
            states.add(BLANK)
        elif value_of(value) is None:
            states.add(INVALID)

    for term in comparison.actual + comparison.expected:
        if term.source == "fact":
            look(term.fact, facts, derived)
        elif term.source == "prior":
            look(term.fact, prior, prior_derived)
        elif term.source in ("text", "parts") or term.source in MEASURES:
            if facts.get(term.fact) is None:
                states.add(BLANK)
            elif not isinstance(facts[term.fact], str):
                states.add(INVALID)
    return BLANK if BLANK in states else (INVALID if INVALID in states else None)


def judge(inst: Instance, facts: dict, prior: dict | None = None, derived: frozenset = frozenset(),
          prior_derived: frozenset = frozenset(), published: bool = False) -> tuple[str, Finding | None]:
    """(status, finding) of one rule instance: PASS, FAIL (with the finding), BLANK or INVALID
    (it cannot be judged: a value is missing or not a number), or NOT_APPLICABLE (its `when` is false).

    The template's check sheet computes the same statuses with spreadsheet formulas (see `checks`).
    """
    if inst.when is not None:
        state = _state(inst.when, facts, prior, derived, prior_derived)
        if state:
            return state, None
        left, _ = _side(inst.when.actual, facts, prior)
        right, _ = _side(inst.when.expected, facts, prior)
        if not _holds(left, inst.when.op, right):
            return NOT_APPLICABLE, None
    absent = frozenset(t.fact for t in inst.check.actual + inst.check.expected
                       if t.source == "fact" and t.fact not in facts and not load_schema().facts[t.fact].required)
    if absent and inst.rule.missing == "fails":
        actual, quote = _side(inst.check.actual, facts, prior)
        expected, _ = _side(inst.check.expected, facts, prior)
        return FAIL, _finding(inst, facts, actual, expected, quote, unstated=published)
    state = _state(inst.check, facts, prior, derived, prior_derived)
    if state:
        return state, None
    actual, quote = _side(inst.check.actual, facts, prior)
    expected, _ = _side(inst.check.expected, facts, prior)
    if actual is None or expected is None:  # a text term whose sentence is not in the text
        return NOT_APPLICABLE, None
    if _holds(actual, inst.check.op, expected):
        return PASS, None
    return FAIL, _finding(inst, facts, actual, expected, quote)


def _finding(inst: Instance, facts: dict, actual: Any, expected: Any, quote: str | None,
             unstated: bool = False) -> Finding:
    """`unstated`: a published report leaves out a figure the rule needs; the rule's `unstated` message
    (if it has one) says the report does not state it, instead of 未填写."""
    layout = load_layout()
    year = facts.get("year")
    values = {var: label for var, label in inst.bindings}
    values.update(
        actual="未填写" if actual is None else _number(actual),
        expected="未填写" if expected is None else _number(expected),
        quote=quote or "",
        year=year,
        prior_year=(year - 1) if isinstance(year, int) else "上",
    )
    ids = tuple(inst.facts)
    message = inst.rule.unstated if unstated and inst.rule.unstated and actual is None else inst.rule.message
    return Finding(
        inst.rule.id,
        inst.rule.severity,
        message.format(**values),
        ids,
        tuple(layout.ref(f) for f in ids),
        None if expected is None else values["expected"],
        None if actual is None else values["actual"],
        origin=inst.rule.origin,
        issuer=inst.rule.issuer,
    )


def evaluate(inst: Instance, facts: dict, prior: dict | None) -> Finding | None:
    """The finding for one rule instance, or None (it holds, or cannot be judged)."""
    return judge(inst, facts, prior)[1]


__all__ = ["validate", "judge", "evaluate", "type_findings"]
