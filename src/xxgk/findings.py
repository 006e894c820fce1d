"""What the validator says: one finding per broken rule instance or bad cell, and the result per file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_LABEL = {"error": "错误", "warning": "警告"}
NATIONAL_ISSUER = "国务院办公厅政府信息与政务公开办公室"  # as rules.NATIONAL_ISSUER (no import: findings stays a leaf)


@dataclass(frozen=True)
class Finding:
    """A broken rule: which rule, how bad, a Chinese message, and where (fact ids and template cells)."""

    rule: str
    severity: str  # error | warning
    message: str
    facts: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()
    expected: Any = None
    actual: Any = None
    origin: str = "national"  # national (schema/rules.json) or local (a local rule file)
    issuer: str = NATIONAL_ISSUER  # whose rule: the 发布机关 of its rule file

    @property
    def origin_label(self) -> str:
        """全国口径 / 地方口径·发布机关: what text output shows beside the rule id."""
        return "全国口径" if self.origin == "national" else f"地方口径·{self.issuer}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["facts"] = list(self.facts)
        data["cells"] = list(self.cells)
        return data


@dataclass
class Result:
    """The verdict on one report: valid means no error (warnings allowed)."""

    path: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.findings:
            return "校验通过"
        if self.valid:
            return f"校验通过，有 {len(self.warnings)} 处警告"
        return f"发现 {len(self.errors)} 处错误、{len(self.warnings)} 处警告"

    def to_dict(self) -> dict:
        return {"path": self.path, "valid": self.valid, "findings": [f.to_dict() for f in self.findings]}
