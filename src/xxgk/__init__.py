"""xxgk: the Government Information Disclosure Annual Report (2021 format) as data, template and validator.

    >>> import xxgk
    >>> report = xxgk.load("report.xlsx")          # or a .json document
    >>> result = xxgk.validate(report)             # prior=xxgk.load("last-year.xlsx") for cross-year rules
    >>> result.valid, [f.message for f in result.findings]
"""

__version__ = "0.1.0"

import sys
import types

from .errors import NotAReport, XxgkError

# Everything else is imported when first used, so that `xxgk --help` starts without the reader and the
# rules, and `xxgk validate` without the template writer (openpyxl).
_LAZY = {"Finding": "findings", "Result": "findings", "Report": "report", "from_document": "report", "load": "report",
         "build_template": "template", "fill": "template"}


def validate(report, prior=None, **options):
    """Every finding on `report`; with `prior` (last year's report) the cross-year rules too; `options` as
    validate.validate takes them (e.g. local=: local rule files)."""
    from .validate import validate as run

    return run(report, prior, **options)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), "build" if name == "build_template" else name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xxgk' has no attribute {name!r}")


class _Package(types.ModuleType):
    """`xxgk.validate` stays the function when the submodule of that name is imported later: importing a
    submodule sets it as an attribute of the package, which would replace the function."""

    def __setattr__(self, name: str, value) -> None:
        if name == "validate" and isinstance(value, types.ModuleType):
            return  # the submodule is still sys.modules["xxgk.validate"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
