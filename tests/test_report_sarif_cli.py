"""`gatewayctl check --format sarif|github` end to end, in a real process:
the SARIF log validates against the official schema, its regions and the
GitHub annotations agree with the JSON output's ranges, stdin works with
--stdin-filename, and no inline secret reaches either format."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.test_report_github import parse_command

DATA = Path(__file__).resolve().parent / "data"

BAD = """\
[telegram]
enabled = true
bot_tokn = { env = "TELEGRAM_BOT_TOKEN" }
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]
"""
GOOD = BAD.replace('bot_tokn = { env = "TELEGRAM_BOT_TOKEN" }\n', "")
SECRET = "123456:AAH-inline-secret-value-do-not-print"
LEAKY = GOOD.replace('{ env = "TELEGRAM_BOT_TOKEN" }', f'"{SECRET}"')


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def run(cmd, args, cwd, stdin: bytes | None = None):
    proc = subprocess.run([*cmd, "check", *args], cwd=cwd, input=stdin, capture_output=True, timeout=120)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def write(tmp_path: Path, rel: str, text: str) -> str:
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return rel


def assert_valid(validator, log):
    errors = list(validator.iter_errors(log))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def json_ranges(cmd, args, cwd) -> list[tuple]:
    rc, out, _ = run(cmd, ["--format", "json", *args], cwd)
    doc = json.loads(out)
    rows = []
    for d in doc["diagnostics"]:
        r = d["range"]
        rows.append((d["code"], d["path"], None if r is None else (r["start"]["line"], r["start"]["column"], r["end"]["line"], r["end"]["column"])))
    return rows


def test_sarif_run_validates_and_matches_json_ranges(gatewayctl_cmd, tmp_path, validator):
    files = [write(tmp_path, "deploy/config.toml", BAD), write(tmp_path, "ok/config.toml", GOOD)]
    rc, out, err = run(gatewayctl_cmd, ["--format", "sarif", *files], tmp_path)
    assert rc == 1, err
    log = json.loads(out)
    assert_valid(validator, log)
    results = log["runs"][0]["results"]
    assert any(r["ruleId"] == "GW101" for r in results)
    sarif_rows = []
    for r in results:
        phys = r["locations"][0]["physicalLocation"]
        reg = phys.get("region")
        sarif_rows.append((r["ruleId"], phys["artifactLocation"]["uri"],
                           None if reg is None else (reg["startLine"], reg["startColumn"], reg["endLine"], reg["endColumn"])))
    assert sarif_rows == json_ranges(gatewayctl_cmd, files, tmp_path)
    gw101 = next(r for r in results if r["ruleId"] == "GW101")
    assert gw101["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_sarif_clean_run_exit_zero(gatewayctl_cmd, tmp_path, validator):
    rc, out, err = run(gatewayctl_cmd, ["--format", "sarif", write(tmp_path, "config.toml", GOOD)], tmp_path)
    assert rc == 0, err
    log = json.loads(out)
    assert_valid(validator, log)
    assert log["runs"][0]["results"] == []


def test_sarif_unparseable_and_missing_files(gatewayctl_cmd, tmp_path, validator):
    broken = write(tmp_path, "broken.toml", "[telegram\nenabled = true\n")
    rc, out, _ = run(gatewayctl_cmd, ["--format", "sarif", broken, "missing.toml"], tmp_path)
    assert rc == 2  # a missing file is a usage error, reported all the same
    log = json.loads(out)
    assert_valid(validator, log)
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in log["runs"][0]["results"]}
    assert by_uri["broken.toml"]["ruleId"] == "GW002"
    assert by_uri["missing.toml"]["ruleId"] == "GW001"


def test_sarif_fingerprint_survives_inserted_lines(gatewayctl_cmd, tmp_path):
    a = write(tmp_path, "config.toml", BAD)
    _, before, _ = run(gatewayctl_cmd, ["--format", "sarif", a], tmp_path)
    write(tmp_path, "config.toml", "# a comment\n\n" + BAD)
    _, after, _ = run(gatewayctl_cmd, ["--format", "sarif", a], tmp_path)
    key = lambda out: [(r["ruleId"], r["partialFingerprints"]) for r in json.loads(out)["runs"][0]["results"]]  # noqa: E731
    lines = lambda out: [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in json.loads(out)["runs"][0]["results"]]  # noqa: E731
    assert key(before) == key(after)
    assert [n + 2 for n in lines(before)] == lines(after)


def test_github_annotations_match_json_ranges(gatewayctl_cmd, tmp_path):
    files = [write(tmp_path, "deploy/config.toml", BAD)]
    rc, out, err = run(gatewayctl_cmd, ["--format", "github", *files], tmp_path)
    assert rc == 1, err
    lines = out.splitlines()
    commands = [parse_command(ln) for ln in lines if ln.startswith("::")]
    assert len(commands) == len(lines) - 1
    rows = []
    for name, props, _ in commands:
        rng = (int(props["line"]), int(props["col"]), int(props["endLine"]), int(props["endColumn"])) if "col" in props else None
        rows.append((props["title"], props["file"], rng))
    expected = [(c, p, r) for c, p, r in json_ranges(gatewayctl_cmd, files, tmp_path)]
    assert rows == expected
    assert lines[-1].startswith("gatewayctl: checked 1 file: ")


@pytest.mark.parametrize("fmt", ["sarif", "github"])
def test_stdin_with_stdin_filename(gatewayctl_cmd, tmp_path, validator, fmt):
    rc, out, err = run(gatewayctl_cmd, ["--format", fmt, "--stdin-filename", "deploy/prod.toml", "-"], tmp_path, stdin=BAD.encode())
    assert rc == 1, err
    if fmt == "sarif":
        log = json.loads(out)
        assert_valid(validator, log)
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
        assert uris == {"deploy/prod.toml"}
    else:
        assert "::error file=deploy/prod.toml,line=3,col=1," in out


def test_stdin_yaml_picked_by_stdin_filename_suffix(gatewayctl_cmd, tmp_path):
    yaml_bad = "telegram:\n  enabled: true\n  bot_tokn: {env: TELEGRAM_BOT_TOKEN}\n  bot_token: {env: TELEGRAM_BOT_TOKEN}\n  allowed_chat_ids: [123456789]\n"
    rc, out, err = run(gatewayctl_cmd, ["--format", "github", "--stdin-filename", "channels.yaml", "-"], tmp_path, stdin=yaml_bad.encode())
    assert rc == 1, err
    assert re.search(r"^::error file=channels\.yaml,line=3,col=3,endLine=3,endColumn=11,title=GW101::", out, flags=re.M), out


@pytest.mark.parametrize("fmt", ["sarif", "github"])
def test_inline_secret_never_printed(gatewayctl_cmd, tmp_path, fmt):
    rc, out, err = run(gatewayctl_cmd, ["--format", fmt, write(tmp_path, "config.toml", LEAKY)], tmp_path)
    assert "GW211" in out
    assert SECRET not in out and SECRET not in err
    assert "AAH-inline" not in out


def test_fixture_corpus_in_sarif_validates(gatewayctl_cmd, repo_root, validator):
    corpus = sorted(p.relative_to(repo_root).as_posix() for p in (repo_root / "fixtures").rglob("*") if p.suffix in (".toml", ".yaml", ".yml", ".json"))
    assert corpus, "fixtures/ has no configs"
    rc, out, err = run(gatewayctl_cmd, ["--format", "sarif", *corpus], repo_root)
    assert rc in (0, 1), err
    log = json.loads(out)
    assert_valid(validator, log)
    rc_json, out_json, _ = run(gatewayctl_cmd, ["--format", "json", *corpus], repo_root)
    assert len(log["runs"][0]["results"]) == len(json.loads(out_json)["diagnostics"])
    assert {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]} == {r["ruleId"] for r in log["runs"][0]["results"]}


def test_command_line_selector_findings_are_uploadable(gatewayctl_cmd, tmp_path, validator):
    cfg = write(tmp_path, "config.toml", GOOD)
    rc, out, err = run(gatewayctl_cmd, ["--format", "sarif", "--channel-account", "telegram", cfg], tmp_path)
    assert rc == 1, err
    log = json.loads(out)
    assert_valid(validator, log)
    (res,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "GW401"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "config.toml"
    assert res["message"]["text"].startswith("<command line>:1:")
