"""Reporters: render one check run in one output format.

Owns the NAME -> reporter registry that also feeds `check --format`
choices. Reporters see diagnostics and source lines only; they must not
import source, selectors, validate, compile or runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gatewayctl.diagnostics import Diagnostic
from gatewayctl.records import field, record

# Bumped only for incompatible changes; additions keep the version.
JSON_FORMAT_VERSION = 1


@record
class FileResult:
    path: str
    valid: bool  # no error-severity diagnostics (warnings too under --strict)
    loaded: bool  # False when the file could not be read or parsed


@record
class ReportInput:
    diagnostics: tuple[Diagnostic, ...]  # already sorted for reading
    files: tuple[FileResult, ...]
    # path -> source lines (without newlines) for snippets; absent for
    # unreadable files. Text has inline secrets already masked by the caller.
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    color: bool = False
    strict: bool = False
    tool_version: str = "0"

    @property
    def error_count(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warning_count(self) -> int:
        return sum(1 for d in self.diagnostics if not d.is_error)

    @property
    def valid(self) -> bool:
        return all(f.valid for f in self.files) and (self.error_count == 0) and not (
            self.strict and self.warning_count
        )


# name -> "module:function"; imported lazily so a run pays for one format only.
_REGISTRY = {
    "text": "gatewayctl.report.text:render",
    "json": "gatewayctl.report.json_report:render",
    "sarif": "gatewayctl.report.sarif:render",
    "github": "gatewayctl.report.github:render",
}


# Every reporter is a module of this package, so every registered name is
# available (no importlib.util.find_spec probe: it cost a cold check ~4 ms).
REPORTER_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_reporter(name: str) -> Callable[[ReportInput], str]:
    import importlib

    module, func = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), func)


class _LazyRegistry(Mapping):
    def __getitem__(self, name):
        if name not in REPORTER_NAMES:
            raise KeyError(name)
        return get_reporter(name)

    def __iter__(self):
        return iter(REPORTER_NAMES)

    def __len__(self):
        return len(REPORTER_NAMES)


REPORTER_BY_NAME: Mapping[str, Callable[[ReportInput], str]] = _LazyRegistry()
