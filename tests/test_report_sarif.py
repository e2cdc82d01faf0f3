"""SARIF reporter: every log validates against the official OASIS 2.1.0
schema (tests/data/sarif-schema-2.1.0.json, see tests/data/README.md) and
carries what GitHub code scanning reads: ruleId, rules with help, 1-based
regions, columnKind, stable fingerprints."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest

from gatewayctl.diagnostics import CODES, Diagnostic, Range, Severity
from gatewayctl.report import FileResult, ReportInput, get_reporter
from gatewayctl.report import sarif

DATA = Path(__file__).resolve().parent / "data"
SCHEMA_FILE = DATA / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

# RFC 3986 URI-reference characters: unreserved, reserved, and %XX escapes.
# jsonschema checks "uri-reference" only when an optional package is
# installed, so the test checks the character set itself.
_URI_REF = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft4Validator, "the SARIF 2.1.0 schema is draft-04"
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def diag(code="GW101", line=7, col=1, end_line=7, end_col=9, *, path="config.toml", pointer="/telegram/bot_tokn",
         message="unknown key `bot_tokn` in [telegram]", hint="did you mean `bot_token`?", severity=None):
    sev = severity or Severity(CODES[code].severity)
    rng = Range.of(line, col, end_line, end_col) if line is not None else None
    return Diagnostic(code, sev, message, hint, path, pointer, rng)


def report(*diags, files=None, strict=False):
    paths = files or sorted({d.path for d in diags}) or ["config.toml"]
    return ReportInput(
        diagnostics=tuple(diags),
        files=tuple(FileResult(p, valid=not any(d.is_error for d in diags if d.path == p), loaded=True) for p in paths),
        strict=strict,
        tool_version="9.8.7",
    )


def render(inp) -> dict:
    text = get_reporter("sarif")(inp)
    assert text.endswith("\n")
    return json.loads(text)


def assert_valid(validator, log):
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_vendored_schema_is_the_recorded_official_copy():
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    assert SCHEMA_SHA256 in (DATA / "README.md").read_text(encoding="utf-8")


def test_schema_rejects_a_broken_log(validator):
    # Guards against a validator that accepts anything (wrong draft, no refs).
    log = render(report(diag()))
    log["runs"][0]["results"][0]["level"] = "fatal"
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert len(list(validator.iter_errors(log))) >= 2


def test_empty_run_is_valid(validator):
    log = render(report())
    assert_valid(validator, log)
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and log["$schema"] == sarif.SARIF_SCHEMA
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []


def test_result_shape(validator):
    d = diag()
    log = render(report(d))
    assert_valid(validator, log)
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["name"] == "gatewayctl" and driver["version"] == "9.8.7"
    assert driver["informationUri"].startswith("https://")
    (res,) = run["results"]
    assert res["ruleId"] == "GW101"
    assert driver["rules"][res["ruleIndex"]]["id"] == "GW101"
    assert res["level"] == "error"
    assert res["message"]["text"] == "unknown key `bot_tokn` in [telegram]\nHint: did you mean `bot_token`?"
    (loc,) = res["locations"]
    phys = loc["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": "config.toml", "uriBaseId": "%SRCROOT%"}
    assert phys["region"] == {"startLine": 7, "startColumn": 1, "endLine": 7, "endColumn": 9}
    assert loc["logicalLocations"][0]["name"] == "/telegram/bot_tokn"
    assert res["partialFingerprints"] == {sarif.FINGERPRINT_KEY: sarif.fingerprint(d)}
    assert re.fullmatch(r"[0-9a-f]{64}", sarif.fingerprint(d))


def test_rules_table_one_entry_per_code_used(validator):
    diags = (
        diag("GW211", 3, 13, 3, 40, pointer="/telegram/bot_token", message="inline secret", hint="use an env ref"),
        diag("GW101"),
        diag("GW101", 9, 1, 9, 4, pointer="/telegram/foo", message="unknown key `foo`", hint=""),
    )
    log = render(report(*diags))
    assert_valid(validator, log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["GW101", "GW211"]
    for rule in rules:
        info = CODES[rule["id"]]
        assert rule["name"] == info.title
        assert rule["shortDescription"]["text"] == info.summary
        assert info.summary in rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] == info.severity
        assert rule["helpUri"].endswith("/docs/rules.md#" + f"{info.code} {info.title}".lower().replace(" ", "-"))
        assert rule["helpUri"] in rule["help"]["markdown"]
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["GW211", "GW101", "GW101"]
    assert [rules[r["ruleIndex"]]["id"] for r in results] == ["GW211", "GW101", "GW101"]
    assert results[0]["level"] == "warning"
    # no hint: the message stands alone
    assert results[2]["message"]["text"] == "unknown key `foo`"


def test_every_registered_code_makes_a_valid_rule(validator):
    diags = [diag(code, pointer=f"/x/{code}", message=f"m {code}") for code in CODES]
    log = render(report(*diags))
    assert_valid(validator, log)
    assert {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]} == set(CODES)


def test_diagnostic_without_range_has_location_without_region(validator):
    d = diag("GW001", None, pointer="", message="cannot read `missing.toml`: no such file", hint="")
    log = render(report(d))
    assert_valid(validator, log)
    (loc,) = log["runs"][0]["results"][0]["locations"]
    assert loc["physicalLocation"] == {"artifactLocation": {"uri": "config.toml", "uriBaseId": "%SRCROOT%"}}


def test_multiline_region_and_unicode_columns(validator):
    d = diag("GW105", 4, 10, 6, 2, pointer="/feishu/accounts/работа", message="значение вне диапазона ✓")
    log = render(report(d))
    assert_valid(validator, log)
    res = log["runs"][0]["results"][0]
    assert res["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4, "startColumn": 10, "endLine": 6, "endColumn": 2,
    }
    assert res["message"]["text"].startswith("значение вне диапазона ✓")


@pytest.mark.parametrize(
    "path, uri, base",
    [
        ("config.toml", "config.toml", "%SRCROOT%"),
        ("./deploy/prod config.toml", "deploy/prod%20config.toml", "%SRCROOT%"),
        ("conf/100%#1.yaml", "conf/100%25%231.yaml", "%SRCROOT%"),
        ("конфиг/кот.toml", "%D0%BA%D0%BE%D0%BD%D1%84%D0%B8%D0%B3/%D0%BA%D0%BE%D1%82.toml", "%SRCROOT%"),
        ("/etc/loong/config.toml", "file:///etc/loong/config.toml", None),
        ("C:\\ops\\config.toml", "file:///C:/ops/config.toml", None),
        ("deploy\\config.toml", "deploy/config.toml", "%SRCROOT%"),
    ],
)
def test_artifact_uris_are_valid_uri_references(validator, path, uri, base):
    log = render(report(diag(path=path)))
    assert_valid(validator, log)
    art = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == uri and _URI_REF.match(art["uri"])
    assert art.get("uriBaseId") == base


def test_every_result_has_a_physical_artifact_location(validator):
    """GitHub code scanning rejects a whole upload if one result has no
    physicalLocation.artifactLocation.uri: selector findings from the command
    line are anchored to the first real file checked, without a region."""
    d = diag("GW401", 1, 9, 1, 10, path="<command line>", pointer="/0", message="expected `=`", hint="")
    log = render(report(d, diag(), files=["<stdin>", "config.toml", "other.toml"]))
    assert_valid(validator, log)
    res = log["runs"][0]["results"][0]
    assert res["ruleId"] == "GW401"
    (loc,) = res["locations"]
    assert loc["physicalLocation"] == {"artifactLocation": {"uri": "config.toml", "uriBaseId": "%SRCROOT%"}}
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "<command line>#/0"
    assert res["message"]["text"] == "<command line>:1:9: expected `=`"
    for r in log["runs"][0]["results"]:
        assert r["locations"] and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]


def test_stdin_without_a_name_still_gets_an_artifact():
    d = diag("GW002", 2, 1, 2, 4, path="<stdin>", pointer="", message="not TOML", hint="")
    log = render(report(d, files=["<stdin>"]))
    (loc,) = log["runs"][0]["results"][0]["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "stdin"
    assert log["runs"][0]["results"][0]["message"]["text"] == "<stdin>:2:1: not TOML"


def test_fingerprint_ignores_position_but_not_identity():
    base = diag()
    moved = diag(line=42, col=3, end_line=42, end_col=11)
    assert sarif.fingerprint(base) == sarif.fingerprint(moved)
    others = [
        diag(code="GW102"),
        diag(path="other.toml"),
        diag(pointer="/telegram/bot_tokx"),
        diag(message="unknown key `bot_tokx` in [telegram]"),
    ]
    prints = {sarif.fingerprint(d) for d in [base, *others]}
    assert len(prints) == 5


def test_fingerprint_same_file_however_spelled():
    assert sarif.fingerprint(diag(path="./deploy/config.toml")) == sarif.fingerprint(diag(path="deploy/config.toml"))


def test_fingerprints_stable_when_a_line_is_inserted_above():
    before = render(report(diag(line=7, end_line=7)))
    after = render(report(diag(line=8, end_line=8)))
    fp = lambda log: log["runs"][0]["results"][0]["partialFingerprints"]  # noqa: E731
    assert fp(before) == fp(after)
    assert before["runs"][0]["results"][0]["locations"] != after["runs"][0]["results"][0]["locations"]


def test_output_is_deterministic():
    inp = report(diag(), diag("GW211", 2, 1, 2, 5, pointer="/a", message="x"))
    assert get_reporter("sarif")(inp) == get_reporter("sarif")(inp)


def test_help_anchors_match_rules_doc_headings(repo_root):
    """helpUri anchors are GitHub slugs of `### GWnnn title` headings; every
    heading already in docs/rules.md must produce exactly our anchor."""
    text = (repo_root / "docs" / "rules.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### (GW\d{3}) (.+?)\s*$", text, flags=re.M)
    for code, title in headings:
        if code not in CODES:
            continue
        slug = re.sub(r"[^\w\- ]", "", f"{code} {title}".lower()).replace(" ", "-")
        assert sarif.rule_anchor(code) == slug, (code, title)


def test_information_uri_follows_the_declared_project_url(monkeypatch):
    from email.message import Message
    from importlib import metadata

    meta = Message()
    meta["Project-URL"] = "Issues, https://forge.example/acme/gatewayctl/issues"
    meta["Project-URL"] = "Source, https://forge.example/acme/gatewayctl/"
    monkeypatch.setattr(metadata, "metadata", lambda name: meta)
    assert sarif.information_uri() == "https://forge.example/acme/gatewayctl"
    log = render(report(diag()))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://forge.example/acme/gatewayctl"
    assert driver["rules"][0]["helpUri"] == "https://forge.example/acme/gatewayctl/blob/main/docs/rules.md#gw101-unknown-key"


def test_information_uri_default_without_project_url(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "metadata", missing)
    assert sarif.information_uri() == sarif.DEFAULT_INFORMATION_URI
