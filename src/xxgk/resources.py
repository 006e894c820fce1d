"""Where the project's data lives: next to the code in a wheel, at the repository root in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_data"
_CHECKOUT = Path(__file__).resolve().parents[2]


def data_dir(name: str) -> Path:
    """Return the folder `schema`, `templates` or `examples`."""
    for base in (_PACKAGED, _CHECKOUT):
        path = base / name
        if path.is_dir():
            return path
    raise FileNotFoundError(f"xxgk data folder {name!r} is missing from the installation")


def schema_path(file: str) -> Path:
    return data_dir("schema") / file


def template_path() -> Path:
    return data_dir("templates") / "report_template.xlsx"
