"""GitHub workflow-command reporter: one `::error`/`::warning` line per
diagnostic, escaped so that no message or path can break out of its
command or forge another one."""

from __future__ import annotations

import re

import pytest

from gatewayctl.diagnostics import CODES, Diagnostic, Range, Severity
from gatewayctl.report import FileResult, ReportInput, get_reporter
from gatewayctl.report.github import escape_data, escape_property


def diag(code="GW101", rng=(7, 1, 7, 9), *, path="config.toml", message="unknown key `bot_tokn`", hint="did you mean `bot_token`?"):
    sev = Severity(CODES[code].severity)
    return Diagnostic(code, sev, message, hint, path, "/telegram/bot_tokn", Range.of(*rng) if rng else None)


def render(*diags, files=("config.toml",)):
    inp = ReportInput(
        diagnostics=tuple(diags),
        files=tuple(FileResult(p, valid=False, loaded=True) for p in files),
    )
    return get_reporter("github")(inp)


# What the Actions runner does with a command line (actions/runner
# ActionCommand.TryParseV2): split at the first "::" after the name, split
# properties at ",", each at the first "=", then unescape.
_UNESCAPE_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_UNESCAPE_PROP = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(text, table):
    for enc, raw in table:
        text = text.replace(enc, raw)
    return text


def parse_command(line: str):
    m = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line)
    assert m, line
    name, props_text, data = m.groups()
    props = {}
    for pair in (props_text or "").split(","):
        if pair:
            k, _, v = pair.partition("=")
            props[k] = _unescape(v, _UNESCAPE_PROP)
    return name, props, _unescape(data, _UNESCAPE_DATA)


def test_error_command_with_full_range():
    out = render(diag())
    first, summary = out.splitlines()
    assert first == (
        "::error file=config.toml,line=7,col=1,endLine=7,endColumn=9,title=GW101::"
        "unknown key `bot_tokn`%0Ahint: did you mean `bot_token`?"
    )
    assert summary == "gatewayctl: checked 1 file: 1 error, 0 warnings"
    assert out.endswith("\n")


def test_warning_uses_warning_command():
    out = render(diag("GW211", (3, 13, 3, 30), message="inline secret in `bot_token`", hint=""))
    assert out.splitlines()[0] == "::warning file=config.toml,line=3,col=13,endLine=3,endColumn=30,title=GW211::inline secret in `bot_token`"


def test_no_range_means_file_only():
    out = render(diag("GW001", None, message="cannot read file", hint=""))
    assert out.splitlines()[0] == "::error file=config.toml,title=GW001::cannot read file"


def test_leading_dot_slash_is_dropped_from_file():
    assert render(diag(path="./deploy/config.toml")).startswith("::error file=deploy/config.toml,line=7,")


def test_pseudo_documents_have_no_file_but_keep_the_position_in_the_text():
    out = render(diag("GW401", (2, 9, 2, 10), path="<command line>", message="expected `=`", hint=""))
    assert out.splitlines()[0] == "::error title=GW401::<command line>:2:9: expected `=`"
    out = render(diag("GW002", None, path="<stdin>", message="not TOML", hint=""))
    assert out.splitlines()[0] == "::error title=GW002::<stdin>: not TOML"


def test_multiline_span_omits_columns():
    name, props, _ = parse_command(render(diag(rng=(4, 10, 6, 2))).splitlines()[0])
    assert props == {"file": "config.toml", "line": "4", "endLine": "6", "title": "GW101"}


@pytest.mark.parametrize(
    "raw, data, prop",
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("%0A literal", "%250A literal", "%250A literal"),
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_escaping_rules(raw, data, prop):
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_tricky_message_and_path_round_trip_through_the_runner_parser():
    path = "deploy/a,b:c/100%\nconf.toml"
    message = "value `x`: 50% off,\nthen ::error file=evil.toml::forged\r\nend"
    hint = "use `%0A`, not a newline"
    out = render(diag(path=path, message=message, hint=hint), files=(path,))
    lines = out.splitlines()
    # One command line plus the summary: nothing the message says can start a line.
    assert len(lines) == 2
    assert sum(1 for ln in lines if ln.startswith("::")) == 1
    name, props, data = parse_command(lines[0])
    assert name == "error"
    assert props["file"] == path
    assert props["title"] == "GW101"
    assert data == f"{message}\nhint: {hint}"


def test_many_diagnostics_one_line_each_in_order():
    diags = [
        diag("GW101", (2, 1, 2, 5), message="a"),
        diag("GW203", (5, 1, 5, 9), message="b", hint=""),
        diag("GW302", (9, 3, 9, 7), path="other.yaml", message="c"),
    ]
    out = render(*diags, files=("config.toml", "other.yaml"))
    lines = out.splitlines()
    assert [parse_command(ln)[0] for ln in lines[:-1]] == ["error", "warning", "error"]
    assert [parse_command(ln)[1]["title"] for ln in lines[:-1]] == ["GW101", "GW203", "GW302"]
    assert lines[-1] == "gatewayctl: checked 2 files: 2 errors, 1 warning"


def test_clean_run_prints_only_the_summary():
    assert render() == "gatewayctl: checked 1 file: 0 errors, 0 warnings\n"
