"""xxgk: the Government Information Disclosure Annual Report (2021 format) as data, template and validator.

    >>> import xxgk
    >>> report = xxgk.load("report.xlsx")          # or a .json document
    >>> result = xxgk.validate(report)             # prior=xxgk.load("last-year.xlsx") for cross-year rules
    >>> result.valid, [f.message for f in result.findings]
"""

__version__ = "0.1.0"

from .errors import NotAReport, XxgkError
from .findings import Finding, Result
from .report import Report, from_document, load
from .validate import validate


def __getattr__(name: str):
    # the template writer needs openpyxl, a slow import that reading and validating never need
    if name in ("build_template", "fill"):
        from . import template

        return template.build if name == "build_template" else template.fill
    raise AttributeError(f"module 'xxgk' has no attribute {name!r}")

__all__ = [
    "Finding",
    "NotAReport",
    "Report",
    "Result",
    "XxgkError",
    "build_template",
    "fill",
    "from_document",
    "load",
    "validate",
    "__version__",
]
