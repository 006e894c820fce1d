"""One exception type for everything a user can get wrong: it carries a Chinese message, never a traceback."""

from __future__ import annotations


class XxgkError(Exception):
    """A problem with the user's input or environment, explained in Chinese.

    `exit_code` is what the command line exits with: 2 means "could not be read as a report".
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        from .text import display_path

        return f"{display_path(self.path)}：{self.message}" if self.path else self.message


class NotAReport(XxgkError):
    """The file cannot be read as an annual report at all (wrong type, damaged, another template)."""


class SchemaError(XxgkError):
    """The project's own schema or rule file is inconsistent: a maintainer's error."""

    exit_code = 3
