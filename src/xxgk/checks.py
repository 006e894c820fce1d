"""The template's own check sheet: every rule instance and every cell's type rule as spreadsheet formulas.

Generated from the rule file and the schema, never written per rule, so a rule added to
`schema/rules.json` appears when the template is regenerated. The statuses mirror the validator's
(`validate.judge`): 通过 pass · 错误/警告 fail · 未填 blank · 无法核对 invalid · 不适用 n/a.
Only functions that Excel 2010+, WPS and LibreOffice compute alike are used: IF, AND, OR, NOT,
COUNT, COUNTA, COUNTIF, ISBLANK, ISNUMBER, ISTEXT, ISLOGICAL, INT, LEN, SUM, ABS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .layout import a1, load_layout, quote_sheet
from .rules import Comparison, Instance, RuleSet, Term, load_rules
from .schema import load_schema

SHEET = "校验"
STATUS = {"pass": "通过", "blank": "未填", "invalid": "无法核对", "n/a": "不适用", "error": "错误", "warning": "警告"}
HEADER = ("序号", "规则", "级别", "应满足", "实际", "应为", "结果", "单元格")
FIRST_ROW = 5  # rows 1-4: title, overall status, note on rules checked elsewhere, column header
STATUS_COL, ACTUAL_COL, EXPECTED_COL, NUMBER_COL = 7, 5, 6, 9  # NUMBER_COL: a hidden helper


@dataclass(frozen=True)
class CheckRow:
    """One line of the check sheet; `key` matches the validator's instance (or `value.type[fact id]`)."""

    key: str
    rule: str
    severity: str
    statement: str
    actual: str | None  # formula of the left side
    expected: str | None  # formula of the right side
    status: str  # formula giving one of STATUS's values
    facts: tuple[str, ...]
    number: str | None  # type rows: 1 when the cell holds a number (not TRUE/FALSE), else 0


@dataclass(frozen=True)
class CheckSheet:
    rows: list[CheckRow]
    elsewhere: str  # the note on rules that need last year's report or the text
    overall: str  # formula of the one-line verdict shown on every sheet
    type_rows: tuple[int, int]  # first and last sheet row of the per-cell type rules

    def row_of(self, index: int) -> int:
        return FIRST_ROW + index

    def status_ref(self, index: int) -> str:
        return f"{quote_sheet(SHEET)}!{a1(self.row_of(index), STATUS_COL, absolute=True)}"


def _ref(fact_id: str) -> str:
    sheet, row, col = load_layout().cells[fact_id]
    return f"{quote_sheet(sheet)}!{a1(row, col)}"


def _ranges(fact_ids: list[str]) -> list[str]:
    """References to the cells, neighbours in a column collapsed into ranges (COUNT takes at most 255)."""
    cells = sorted({load_layout().cells[f] for f in fact_ids}, key=lambda c: (c[0], c[2], c[1]))
    out, i = [], 0
    while i < len(cells):
        sheet, row, col = cells[i]
        j = i
        while j + 1 < len(cells) and cells[j + 1] == (sheet, cells[j][1] + 1, col):
            j += 1
        start = f"{quote_sheet(sheet)}!{a1(row, col)}"
        out.append(start if i == j else f"{start}:{a1(cells[j][1], col)}")
        i = j + 1
    return out


def _involved(comparison: Comparison, rules: RuleSet) -> list[str]:
    """The comparison's facts and, for the template's sums, the input cells they add up."""
    seen: dict[str, None] = {}
    for fact_id in comparison.facts:
        seen.setdefault(fact_id, None)
        for leaf in rules.leaves(fact_id):
            seen.setdefault(leaf, None)
    return list(seen)


def _side(terms: tuple[Term, ...]) -> str:
    """A side's value; SUM skips text, so a side with an unreadable cell still shows a number."""
    plain = [t.fact for t in terms if t.source == "fact" and t.coef == 1]
    parts = [f"SUM({','.join(_ranges(plain))})"] if plain else []
    for term in terms:
        if term.source == "fact" and term.coef != 1:
            parts.append(f"{'-' if term.coef < 0 else '+'}{'' if abs(term.coef) == 1 else f'{abs(term.coef)}*'}SUM({_ref(term.fact)})")
        elif term.source == "const":
            parts.append(f"{'-' if term.coef < 0 else '+'}{abs(term.coef)}")
        elif term.source in _MEASURE_FORMULAS:
            parts.append(f"{'-' if term.coef < 0 else '+'}{'' if abs(term.coef) == 1 else f'{abs(term.coef)}*'}"
                         f"{_MEASURE_FORMULAS[term.source](term)}")
    return "".join(parts).lstrip("+") or "0"


def _without_whitespace(x: str) -> str:
    """The text of cell x without rules.WHITESPACE (space, full-width and no-break space, tab, CR, LF)."""
    for ch in ('" "', '"\u3000"', '"\u00a0"', "CHAR(9)", "CHAR(13)", "CHAR(10)"):
        x = f'SUBSTITUTE({x},{ch},"")'
    return x


# length() and mentions() of local rules as formulas (rules.text_length, rules.text_mentions)
_MEASURE_FORMULAS = {
    "length": lambda t: f"LEN({_without_whitespace(_ref(t.fact))})",
    "mentions": lambda t: "IF(OR({}),1,0)".format(",".join(
        f'ISNUMBER(FIND("{p}",{_ref(t.fact)}))' for p in t.pattern.split("|"))),
}


def _compare(actual: str, op: str, expected: str, exact: bool) -> str:
    if op == "==":
        return f"{actual}={expected}" if exact else f"ABS(({actual})-({expected}))<=0.000001"
    return f"{actual}{op}{expected}"


def _numbers(cells: list[str], number_rows: dict[str, int]) -> str:
    """How many of the cells hold a number (not TRUE/FALSE).

    Not COUNT over the cells: LibreOffice counts TRUE/FALSE as numbers and Excel does not, and
    ISLOGICAL over a range is not reliable either. Each input cell's type row has a 1/0 "is a number"
    cell tested one cell at a time; the template's sums are formulas, always numbers: COUNT them.
    """
    rows = sorted(number_rows[c] for c in cells if c in number_rows)
    sums = [f"{quote_sheet(SHEET)}!{a1(r0, NUMBER_COL)}" + (f":{a1(r1, NUMBER_COL)}" if r1 != r0 else "")
            for r0, r1 in _runs(rows)]
    computed = [c for c in cells if c not in number_rows]
    parts = ([f"SUM({','.join(sums)})"] if sums else []) + ([f"COUNT({','.join(_ranges(computed))})"] if computed else [])
    return "+".join(parts) or "0"


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _state_test(cells: list[str], then: str, number_rows: dict[str, int]) -> str:
    n = len(cells)
    return (f'IF(COUNTA({",".join(_ranges(cells))})<{n},"{STATUS["blank"]}",'
            f'IF({_numbers(cells, number_rows)}<{n},"{STATUS["invalid"]}",{then}))')


def _exact(comparison: Comparison) -> bool:
    schema = load_schema()
    return all(schema.facts[t.fact].kind == "count" for t in comparison.actual + comparison.expected if t.fact)


def _rule_row(inst: Instance, row: int, rules: RuleSet, number_rows: dict[str, int]) -> CheckRow:
    schema = load_schema()
    fail = STATUS[inst.rule.severity]
    here_actual = a1(row, ACTUAL_COL)
    here_expected = a1(row, EXPECTED_COL)
    verdict = f'IF({_compare(here_actual, inst.check.op, here_expected, _exact(inst.check))},"{STATUS["pass"]}","{fail}")'
    formula = _state_test(_involved(inst.check, rules), verdict, number_rows)
    if inst.rule.missing == "fails":
        optional = [f for f in inst.check.facts if not schema.facts[f].required]
        if optional:
            formula = f'IF(COUNTA({",".join(_ranges(optional))})<{len(optional)},"{fail}",{formula})'
    if inst.when is not None:
        holds = _compare(_side(inst.when.actual), inst.when.op, _side(inst.when.expected), _exact(inst.when))
        formula = _state_test(_involved(inst.when, rules), f'IF(NOT({holds}),"{STATUS["n/a"]}",{formula})', number_rows)
    labels = {var: label for var, label in inst.bindings}
    return CheckRow(
        key=inst.key,
        rule=inst.rule.id,
        severity=inst.rule.severity,
        statement=inst.rule.statement.format(**labels),
        actual="=" + _side(inst.check.actual),
        expected="=" + _side(inst.check.expected),
        status="=" + formula,
        facts=tuple(inst.facts),
        number=None,
    )


def _type_row(fact_id: str, rules: RuleSet) -> CheckRow:
    """The JSON Schema's constraints on one cell, as a formula (see `validate._predicate`)."""
    from .validate import expected_text

    schema = load_schema()
    fact = schema.facts[fact_id]
    node, x = fact.node, _ref(fact_id)
    rule = rules.rule("value.type")
    empty = STATUS["blank"] if fact.required else STATUS["pass"]
    ok, bad = f'"{STATUS["pass"]}"', f'"{STATUS["error"]}"'
    if node.get("type") in ("integer", "number"):
        tests = []
        if "minimum" in node:
            tests.append(f"{x}>={node['minimum']}")
        if "maximum" in node:
            tests.append(f"{x}<={node['maximum']}")
        if node["type"] == "integer":
            tests.append(f"{x}=INT({x})")
        inner = f"IF(AND({','.join(tests)}),{ok},{bad})" if tests else ok
        formula = f'IF(ISBLANK({x}),"{empty}",IF(OR(ISLOGICAL({x}),NOT(ISNUMBER({x}))),{bad},{inner}))'
    else:
        tests = [f"ISTEXT({x})"]
        if "minLength" in node:
            tests.append(f"LEN({x})>={node['minLength']}")
        if "maxLength" in node:
            tests.append(f"LEN({x})<={node['maxLength']}")
        formula = f'IF(ISBLANK({x}),"{empty}",IF(AND({",".join(tests)}),{ok},{bad}))'
    number = f"=IF(ISLOGICAL({x}),0,IF(ISNUMBER({x}),1,0))"
    return CheckRow(
        key=f"value.type[{fact_id}]",
        rule=rule.id,
        severity=rule.severity,
        statement=rule.statement.format(fact=schema.describe(fact_id), expected=expected_text(fact)),
        actual=None,
        expected=None,
        status="=" + formula,
        facts=(fact_id,),
        number=number,
    )


@cache
def load_checks() -> CheckSheet:
    return build_checks(load_rules())


def _local_row(inst: Instance, row: int, rules: RuleSet, number_rows: dict[str, int]) -> CheckRow:
    """A local rule's row: as `_rule_row`, its text cells tested as text (未填 when empty), its statement
    naming the issuer."""
    base = _rule_row(inst, row, rules, number_rows)
    texts = list(dict.fromkeys(t.fact for c in filter(None, (inst.check, inst.when))
                               for t in c.actual + c.expected if t.source in _MEASURE_FORMULAS))
    verdict = (f'IF({_compare(a1(row, ACTUAL_COL), inst.check.op, a1(row, EXPECTED_COL), True)},'
               f'"{STATUS["pass"]}","{STATUS[inst.rule.severity]}")')
    numeric = [f for f in _involved(inst.check, rules) if f not in texts]
    formula = _state_test(numeric, verdict, number_rows) if numeric else verdict
    if inst.when is not None:
        holds = _compare(_side(inst.when.actual), inst.when.op, _side(inst.when.expected), True)
        when_numeric = [f for f in _involved(inst.when, rules) if f not in texts]
        formula = f'IF(NOT({holds}),"{STATUS["n/a"]}",{formula})'
        formula = _state_test(when_numeric, formula, number_rows) if when_numeric else formula
    for x in (_ref(f) for f in reversed(texts)):
        formula = f'IF(COUNTA({x})<1,"{STATUS["blank"]}",IF(NOT(ISTEXT({x})),"{STATUS["invalid"]}",{formula}))'
    return CheckRow(base.key, base.rule, base.severity, f"【地方口径·{inst.rule.issuer}】{base.statement}",
                    base.actual, base.expected, "=" + formula, base.facts, None)


def build_checks(rules: RuleSet, local: RuleSet | None = None) -> CheckSheet:
    """The check sheet for a rule set: rule instances first, then one type row per input cell, then the
    rows of `local` rules a formula can compute (see `localrules.in_sheet`); the others are named in row 3."""
    schema = load_schema()
    in_sheet = [inst for inst in rules.instances if not inst.rule.requires]
    computed = rules.computed()
    # a template sum needs no type row: a sum of counts is a count unless a part is wrong
    inputs = [f.id for f in schema if f.kind != "const" and f.id not in computed]
    first_type = FIRST_ROW + len(in_sheet)
    number_rows = {fact_id: first_type + i for i, fact_id in enumerate(inputs)}
    rows = [_rule_row(inst, FIRST_ROW + i, rules, number_rows) for i, inst in enumerate(in_sheet)]
    rows += [_type_row(fact_id, rules) for fact_id in inputs]
    if local is not None:
        from .localrules import in_sheet

        rows += [_local_row(inst, FIRST_ROW + len(rows) + i, rules, number_rows)
                 for i, inst in enumerate(i for i in local.instances if in_sheet(i))]
    last = FIRST_ROW + len(rows) - 1
    elsewhere_rules = [r for r in rules.rules if r.requires]
    elsewhere = ("需要上年报告或正文的规则不在本表中，请用加载项的“校验”按钮或 xxgk validate 检查：" + "；".join(
        f"{r.id}（{re.sub(r'[{][a-z_]+[}]', '各', r.statement)}）" for r in elsewhere_rules))
    if local is not None:
        from .localrules import in_sheet

        shown = {i.rule.id for i in local.instances if in_sheet(i)}
        others = [r for r in local.rules if r.id not in shown]
        if others:
            elsewhere += ("。地方规则中需读取正文数字的也不在本表中：" + "；".join(
                f"{r.id}（{r.issuer}：{re.sub(r'[{][a-z_]+[}]', '各', r.statement)}）" for r in others))
    col = a1(1, STATUS_COL)[:-1]
    all_rows = f"{quote_sheet(SHEET)}!${col}${FIRST_ROW}:${col}${last}"
    type_range = f"{quote_sheet(SHEET)}!${col}${first_type}:${col}${last}"
    errors = f'COUNTIF({all_rows},"{STATUS["error"]}")'
    warnings = f'COUNTIF({all_rows},"{STATUS["warning"]}")'
    blanks = f'COUNTIF({type_range},"{STATUS["blank"]}")'
    overall = (f'=IF({errors}>0,"发现 "&{errors}&" 处错误"&IF({blanks}>0,"，"&{blanks}&" 处未填",""),'
               f'IF({blanks}>0,"有 "&{blanks}&" 处未填",IF({warnings}>0,"校验通过，有 "&{warnings}&" 处警告","校验通过")))')
    return CheckSheet(rows, elsewhere, overall, (first_type, last))


def flags() -> dict[str, tuple[str, str]]:
    """Fact id -> (error condition, warning condition): conditional-format formulas over the status cells."""
    sheet = load_checks()
    by_fact: dict[str, dict[str, list[str]]] = {}
    for i, row in enumerate(sheet.rows):
        for fact_id in row.facts:
            by_fact.setdefault(fact_id, {"error": [], "warning": []})[row.severity].append(sheet.status_ref(i))
    out = {}
    for fact_id, refs in by_fact.items():
        conditions = []
        for severity in ("error", "warning"):
            tests = [f'{r}="{STATUS[severity]}"' for r in refs[severity]]
            conditions.append(f"OR({','.join(tests)})" if tests else "")
        out[fact_id] = (conditions[0], conditions[1])
    return out


def statuses(report, prior=None) -> dict[str, str]:
    """The validator's verdict on `report` in the check sheet's words, keyed like `CheckRow.key`.

    What the template's formulas show for a workbook, the validator says here: tests compare the two.
    """
    from .validate import judge, type_findings

    rules, facts = load_rules(), report.facts
    out: dict[str, str] = {}
    for inst in rules.instances:
        if inst.rule.requires:
            continue
        status, _ = judge(inst, facts, None, report.derived)
        out[inst.key] = STATUS[inst.rule.severity] if status == "fail" else STATUS[status]
    typed = {f.facts[0]: f for f in type_findings(report) if len(f.facts) == 1}
    computed = rules.computed()
    for fact in load_schema():
        if fact.kind == "const" or fact.id in computed:
            continue
        value = facts.get(fact.id)
        if fact.id in typed:
            status = "blank" if value is None else "error"
        else:
            status = "pass"
        out[f"value.type[{fact.id}]"] = STATUS[status]
    return out
