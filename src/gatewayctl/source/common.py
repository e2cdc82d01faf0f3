"""Helpers every format parser shares: load diagnostics and the result shape.

Imports gatewayctl.diagnostics only.
"""

from __future__ import annotations

from gatewayctl.diagnostics import Diagnostic, Range, Severity, code_info

LoadResult = tuple  # (Document | None, tuple[Diagnostic, ...])


def load_diagnostic(code: str, path: str, message: str, hint: str = "", rng: Range | None = None, pointer: str = "") -> Diagnostic:
    return Diagnostic(
        code=code,
        severity=Severity(code_info(code).severity),
        message=message,
        hint=hint,
        path=path,
        pointer=pointer,
        range=rng,
    )


def type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "a " + type(value).__name__
