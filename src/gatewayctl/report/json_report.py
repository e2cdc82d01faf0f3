"""Machine output: one JSON object on stdout, nothing else.

Shape (format_version 1; within a version fields are only ever added):
{"format_version", "valid", "error_count", "warning_count",
 "files": [{"path", "valid"}], "diagnostics": [Diagnostic.to_json()]}
"""

from __future__ import annotations

import json

from gatewayctl.report import JSON_FORMAT_VERSION, ReportInput


def render(inp: ReportInput) -> str:
    obj = {
        "format_version": JSON_FORMAT_VERSION,
        "valid": inp.valid,
        "error_count": inp.error_count,
        "warning_count": inp.warning_count,
        "files": [{"path": f.path, "valid": f.valid, "loaded": f.loaded} for f in inp.files],
        "diagnostics": [d.to_json() for d in inp.diagnostics],
    }
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
