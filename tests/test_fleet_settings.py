"""The [fleet] table of gatewayctl.toml (issue 16, "Plan and config" and
"One definition per lane"): every rule with its code, place and fix, and the
accepted near miss beside it; the timing budget and the exact numbers of
its fix; the fleet in the plan (format_version 2), through the wire format,
the plan schema, `plan show` and `plan diff`; per-lane definition digests.

In process, with real files in a temp directory; the CLI through click's
runner and, for the bundled example, as a real subprocess.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import event, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli
from gatewayctl.compile import planfile
from gatewayctl.compile.plan import (
    FLEET_FORMAT_VERSION,
    FORMAT_VERSION,
    Fleet,
    SecretRef,
    fleet_budget,
    max_stop_grace_s,
    min_lease_ttl_s,
)
from gatewayctl.compile.plandiff import diff_plans
from gatewayctl.pipeline import lint_and_compile, lint_file

from tests.support import examples
from tests.test_plan_support import REPO, compile_text, plan_validator

TELEGRAM = """\
[telegram]
enabled = true
default_account = "bot"

[telegram.accounts.bot]
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]
"""

HEAD = 'loong_config = "config.toml"\nstop_grace_s = 3\n\n[handler]\necho = true\n\n'

FLEET = """\
[fleet]
backend = "etcd"
endpoints = ["http://10.0.0.5:2379", "http://10.0.0.6:2379"]
prefix = "/gatewayctl/prod"
lease_ttl_s = 10
"""


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text(TELEGRAM, encoding="utf-8")
    return tmp_path


def settings(here: Path, fleet: str, head: str = HEAD) -> Path:
    path = here / "gatewayctl.toml"
    path.write_text(head + fleet, encoding="utf-8")
    return path


def diags_of(path: Path):
    return lint_file(str(path)).diagnostics


def run(args, env=None):
    return CliRunner().invoke(cli, args, env=env or {"GATEWAYCTL_GATEWAY_PORT": None}, catch_exceptions=False)


def replace_line(text: str, key: str, line: str) -> str:
    """``text`` with the line setting ``key`` replaced by ``line`` (or ``line``
    appended when no line sets it; "" removes it)."""
    lines = text.splitlines()
    out, done = [], False
    for ln in lines:
        if ln.split("=", 1)[0].strip() == key:
            if line:
                out.append(line)
            done = True
        else:
            out.append(ln)
    if not done and line:
        out.append(line)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- rules

# (key, bad line, code, message part, hint part, near miss accepted)
CASES = [
    ("backend", 'backend = "consul"', "GW614", 'not "consul"', 'backend = "etcd"', 'backend = "etcd"'),
    (
        "endpoints",
        'endpoints = ["http://10.0.0.5:2379/v3"]',
        "GW615",
        "has a path",
        "http://10.0.0.5:2379",
        'endpoints = ["http://10.0.0.5:2379"]',
    ),
    (
        "endpoints",
        'endpoints = ["http://10.0.0.5:2379?x=1"]',
        "GW615",
        "has a query",
        "remove everything after the port",
        'endpoints = ["http://10.0.0.5:2379"]',
    ),
    (
        "endpoints",
        'endpoints = ["http://10.0.0.5:2379#f"]',
        "GW615",
        "has a fragment",
        "remove everything after the port",
        'endpoints = ["http://10.0.0.5:2379"]',
    ),
    ("endpoints", 'endpoints = ["http://10.0.0.5:2379/"]', "GW615", "ends with a slash", "remove the trailing slash", 'endpoints = ["http://10.0.0.5:2379"]'),
    ("endpoints", 'endpoints = ["grpc://10.0.0.5:2379"]', "GW615", "must start with http:// or https://", "scheme://host:port", 'endpoints = ["https://10.0.0.5:2379"]'),
    ("endpoints", 'endpoints = ["HTTP://10.0.0.5:2379"]', "GW615", "must start with http:// or https://", "scheme://host:port", 'endpoints = ["http://10.0.0.5:2379"]'),
    ("endpoints", 'endpoints = ["http://etcd-1"]', "GW615", "names no port", "http://etcd-1:2379", 'endpoints = ["http://etcd-1:2379"]'),
    ("endpoints", 'endpoints = ["http://etcd-1:0"]', "GW615", "has port 0", "http://etcd-1:2379", 'endpoints = ["http://etcd-1:1"]'),
    ("endpoints", 'endpoints = ["http://etcd-1:65536"]', "GW615", "valid port", "scheme://host:port", 'endpoints = ["http://etcd-1:65535"]'),
    ("endpoints", 'endpoints = ["http://:2379"]', "GW615", "names no host", "scheme://host:port", 'endpoints = ["http://[::1]:2379"]'),
    (
        "endpoints",
        'endpoints = ["http://root:s3cr3t-Pa55@10.0.0.5:2379"]',
        "GW616",
        "embeds credentials",
        'password = { env = "ETCD_PASSWORD" }',
        'endpoints = ["http://10.0.0.5:2379"]',
    ),
    ("endpoints", "endpoints = []", "GW617", "is empty", "endpoints = [", 'endpoints = ["http://a:1"]'),
    (
        "endpoints",
        'endpoints = ["http://etcd-1:2379", "http://ETCD-1:2379"]',
        "GW617",
        "endpoints[1] repeats endpoints[0]",
        "once",
        'endpoints = ["http://etcd-1:2379", "https://etcd-1:2379"]',
    ),
    ("prefix", 'prefix = "gatewayctl/prod"', "GW618", 'must start with "/"', '"/gatewayctl/prod"', 'prefix = "/gatewayctl/prod"'),
    ("prefix", 'prefix = "/gatewayctl/prod/"', "GW618", 'must not end with "/"', '"/gatewayctl/prod"', 'prefix = "/gatewayctl/prod"'),
    ("prefix", 'prefix = "/"', "GW618", 'must not end with "/"', '"/gatewayctl/prod"', 'prefix = "/g"'),
    ("prefix", 'prefix = "/gatewayctl//prod"', "GW618", '("//")', '"/gatewayctl/prod"', 'prefix = "/gatewayctl/prod"'),
    ("prefix", 'prefix = "/gatewayctl/pr od"', "GW618", "U+0020 at position 15", "letters, digits", 'prefix = "/gatewayctl/pr_od"'),
    ("prefix", 'prefix = "/gatewayctl/prod*"', "GW618", "'*' at position 17", "letters, digits", 'prefix = "/gatewayctl/prod-2.x"'),
    ("prefix", 'prefix = "/' + "a" * 128 + '"', "GW618", "129 characters long (at most 128)", "letters, digits", 'prefix = "/' + "a" * 127 + '"'),
    ("lease_ttl_s", "lease_ttl_s = 2.9", "GW619", "from 3 to 300, not 2.9", "from 3 to 300", "lease_ttl_s = 300"),
    ("lease_ttl_s", "lease_ttl_s = 301", "GW619", "from 3 to 300, not 301", "from 3 to 300", "lease_ttl_s = 300"),
    ("lease_ttl_s", "lease_ttl_s = nan", "GW619", "not nan", "from 3 to 300", "lease_ttl_s = 9"),
    ("settle_s", "settle_s = -0.5", "GW619", "from 0 to 60, not -0.5", "from 0 to 60", "settle_s = 0"),
    ("settle_s", "settle_s = 60.5", "GW619", "from 0 to 60, not 60.5", "from 0 to 60", "settle_s = 60"),
    ("host_id", 'host_id = ""', "GW620", "is empty", '"gw-01"', 'host_id = "0"'),
    ("host_id", 'host_id = ".gw"', "GW620", "must start with a letter or digit", '"gw-01"', 'host_id = "gw."'),
    ("host_id", 'host_id = "gw 01"', "GW620", "only letters, digits", '"gw-01"', 'host_id = "gw_01.eu-2"'),
    ("host_id", 'host_id = "' + "h" * 65 + '"', "GW620", "65 characters long (at most 64)", '"gw-01"', 'host_id = "' + "h" * 64 + '"'),
]


@pytest.mark.parametrize("key, bad, code, message, hint, near_miss", CASES, ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_fires_at_its_place_with_its_fix_and_the_near_miss_passes(here, key, bad, code, message, hint, near_miss):
    fleet = replace_line(FLEET, key, bad)
    path = settings(here, fleet)
    diags = diags_of(path)
    assert [d.code for d in diags] == [code], [(d.code, d.message) for d in diags]
    d = diags[0]
    assert message in d.message and hint in d.hint, (d.message, d.hint)
    assert d.path == str(path)
    # exact place: the line of the value (the header lines come first)
    line_no = (HEAD + fleet).splitlines().index(bad) + 1
    assert d.range is not None and d.range.start.line == line_no
    assert d.pointer.startswith(f"/fleet/{key}")

    ok = settings(here, replace_line(FLEET, key, near_miss))
    assert [(x.code, x.message) for x in diags_of(ok)] == []


def test_a_prefix_finding_points_at_the_offending_character(here):
    path = settings(here, replace_line(FLEET, "prefix", 'prefix = "/gatewayctl/pr od"'))
    (d,) = diags_of(path)
    column = 'prefix = "'.__len__() + 1 + len("/gatewayctl/pr")
    assert (d.range.start.column, d.range.end.column) == (column, column + 1)


def test_missing_keys_are_one_finding_on_the_table_header(here):
    path = settings(here, '[fleet]\nbackend = "etcd"\n')
    (d,) = diags_of(path)
    assert d.code == "GW613" and d.pointer == "/fleet"
    assert "`endpoints`, `prefix`, `lease_ttl_s`" in d.message and "remove [fleet]" in d.hint
    assert d.range.start.line == HEAD.count("\n") + 1


def test_a_misspelled_required_key_is_one_finding(here):
    path = settings(here, FLEET.replace("lease_ttl_s = 10", "lease_ttl = 10"))
    (d,) = diags_of(path)
    assert d.code == "GW101" and "lease_ttl_s" in d.message + d.hint


def test_no_fleet_table_is_the_local_slot_and_a_plan_of_format_version_1(here):
    path = settings(here, "")
    result, plan = lint_and_compile(str(path), _options())
    assert not result.diagnostics and plan.fleet is None and plan.format_version == FORMAT_VERSION


def test_unknown_keys_and_wrong_types_stay_the_schemas_findings(here):
    path = settings(here, FLEET + "lease_ttl = 10\nsettle_s = \"3\"\n")
    got = {(d.code, d.pointer) for d in diags_of(path)}
    assert got == {("GW101", "/fleet/lease_ttl"), ("GW102", "/fleet/settle_s")}


# --------------------------------------------------------- credentials

INLINE_SECRET = "s3cr3t-Pa55word-do-not-print"


@pytest.mark.parametrize(
    "lines, code, message, hint",
    [
        (['username = "etcduser"', 'password = { env = "ETCD_PASSWORD" }'], "GW622", "username is written inline", 'username = { env = "ETCD_USERNAME" }'),
        (['username = { env = "ETCD_USERNAME" }', f'password = "{INLINE_SECRET}"'], "GW622", "password is written inline", 'password = { env = "ETCD_PASSWORD" }'),
        (['username = { env = "ETCD_USERNAME" }', 'password = { exec = ["cat", "/x"] }'], "GW621", "cannot be an exec reference", '{ file = "/path" }'),
        (['username = { env = "ETCD_USERNAME" }', 'password = { env = "A", file = "/x" }'], "GW621", "needs exactly one of env, file", "ETCD_PASSWORD"),
        (['username = { env = "ETCD_USERNAME" }', 'password = { value = "x" }'], "GW621", "has an unknown key", "ETCD_PASSWORD"),
        (['username = { env = "ETCD_USERNAME" }', 'password = { env = "" }'], "GW621", "has a blank env", "ETCD_PASSWORD"),
        (['username = { env = "ETCD_USERNAME" }', 'password = { env = "$ETCD_PASSWORD" }'], "GW621", 'leading "$"', "ETCD_PASSWORD"),
        (['username = { env = "ETCD_USERNAME" }', f'password = {{ env = "sk-{INLINE_SECRET}" }}'], "GW621", "looks like a secret", "ETCD_PASSWORD"),
        (['username = { env = "ETCD_USERNAME" }', "password = 5"], "GW621", "must be a reference table", "ETCD_PASSWORD"),
        (['username = { env = "ETCD_USERNAME" }'], "GW621", "username is set without password", 'password = { env = "ETCD_PASSWORD" }'),
    ],
)
def test_credentials_are_env_or_file_references_only(here, lines, code, message, hint):
    path = settings(here, FLEET + "\n".join(lines) + "\n")
    diags = diags_of(path)
    assert [d.code for d in diags] == [code], [(d.code, d.message) for d in diags]
    assert message in diags[0].message and hint in diags[0].hint


def test_credential_references_are_accepted_and_compiled_as_references(here, monkeypatch):
    monkeypatch.setenv("ETCD_USERNAME", "etcd-user-value")
    monkeypatch.setenv("ETCD_PASSWORD", INLINE_SECRET)
    secret_file = here / "etcd-password"
    secret_file.write_text(INLINE_SECRET, encoding="utf-8")
    path = settings(here, FLEET + 'username = { env = "ETCD_USERNAME" }\npassword = { file = "etcd-password" }\n')
    result, plan = lint_and_compile(str(path), _options())
    assert not result.diagnostics
    assert plan.fleet.username == SecretRef("username", "env", "ETCD_USERNAME")
    assert plan.fleet.password == SecretRef("password", "file", "etcd-password")
    data = planfile.dumps(plan)
    # resolved values never enter the plan, only where they come from
    assert INLINE_SECRET.encode() not in data and b"etcd-user-value" not in data
    assert b'"ref": "ETCD_USERNAME"' in data


@pytest.mark.parametrize(
    "line",
    [
        f'password = "{INLINE_SECRET}"',
        f'password = {{ env = "sk-{INLINE_SECRET}" }}',
        f'password = {{ value = "{INLINE_SECRET}" }}',
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_a_credential_written_wrongly_never_reaches_any_output(here, line, fmt):
    settings(here, FLEET + 'username = { env = "ETCD_USERNAME" }\n' + line + "\n")
    r = run(["check", "--format", fmt, "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "GW62" in r.stdout + r.stderr
    assert INLINE_SECRET not in r.stdout + r.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_endpoint_password_never_reaches_any_output(here, fmt):
    settings(here, replace_line(FLEET, "endpoints", f'endpoints = ["http://root:{INLINE_SECRET}@10.0.0.5:2379"]'))
    r = run(["check", "--format", fmt, "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW616" in r.stdout
    assert INLINE_SECRET not in r.stdout + r.stderr and "root:" not in r.stdout + r.stderr


def test_an_inline_username_is_masked_too(here):
    settings(here, FLEET + 'username = "etcd-operator-name"\npassword = { env = "ETCD_PASSWORD" }\n')
    r = run(["check", "gatewayctl.toml"])
    assert "GW622" in r.stdout and "etcd-operator-name" not in r.stdout


# ------------------------------------------------- [gateway.fleet] place


def test_a_fleet_table_in_loongs_gateway_table_is_refused_with_the_way_out(here):
    (here / "config.toml").write_text(TELEGRAM + "\n[gateway.fleet]\nbackend = \"etcd\"\nlease_ttl_s = 10\n", encoding="utf-8")
    (d,) = diags_of(here / "config.toml")
    assert d.code == "GW624" and d.pointer == "/gateway/fleet" and d.is_error
    assert "gatewayctl.toml as [fleet]" in d.hint
    assert d.range.start.line == TELEGRAM.count("\n") + 2
    # the deprecated path cannot make a plan from it
    r = run(["plan", "--config", "config.toml", "--out", "plan.json"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW624" in r.stderr and not (here / "plan.json").exists()
    # ... and a settings file naming that config reports it in the loong config
    settings(here, FLEET)
    r = run(["check", "--format", "json", "gatewayctl.toml"])
    assert {(d["path"], d["code"]) for d in json.loads(r.stdout)["diagnostics"]} == {("config.toml", "GW624")}


# ---------------------------------------------------------------- budget


def test_the_budget_is_the_designs_formulas():
    b = fleet_budget(10, 3)
    assert b.ttl_s == 10 and b.stop_grace_s == 3
    assert math.isclose(b.renew_every_s, 10 / 3)
    assert b.request_timeout_s == 2.0  # min(2, 10/5)
    assert math.isclose(b.margin_s, 0.45)  # 0.25 + 0.02*10
    assert math.isclose(b.lane_dead_after_s, 9.55)
    assert math.isclose(b.lane_stop_after_s, 6.55)
    assert b.poll_s == 0.5 and b.settle_s == 3.0
    assert b.feasible
    small = fleet_budget(4, 0.5, settle_s=1.25)
    assert math.isclose(small.request_timeout_s, 0.8) and math.isclose(small.poll_s, 0.4)
    assert small.settle_s == 1.25 and fleet_budget(4, 0.5).settle_s == 2.0  # min(3, ttl/2)
    assert not fleet_budget(10, 10).feasible
    assert not fleet_budget(math.inf, 1).feasible and not fleet_budget(10, math.nan).feasible


def test_a_value_exactly_at_the_edge_is_refused_whatever_the_float_rounding():
    # ttl 60: lane_stop_after = 58.55 - grace must exceed 22; grace 36.55 is
    # exactly the edge (the float 36.55 is a hair below it, 1.76 at ttl 4.5 a
    # hair above): both refused, the hundredth below accepted.
    assert not fleet_budget(60, 36.55).feasible and fleet_budget(60, 36.54).feasible
    assert not fleet_budget(4.5, 1.76).feasible and fleet_budget(4.5, 1.75).feasible


@pytest.mark.parametrize("ttl", [3, 4.5, 10, 10.5, 17, 60, 299.99, 300])
def test_max_stop_grace_is_the_last_feasible_hundredth(ttl):
    x = max_stop_grace_s(ttl)
    assert fleet_budget(ttl, x).feasible
    assert not fleet_budget(ttl, round(x + 0.01, 2)).feasible


@pytest.mark.parametrize("grace", [0.1, 1, 4.21, 4.42, 10, 30, 120])
def test_min_lease_ttl_is_the_first_feasible_hundredth(grace):
    y = min_lease_ttl_s(grace)
    assert fleet_budget(y, grace).feasible
    assert not fleet_budget(round(y - 0.01, 2), grace).feasible


def test_the_budget_error_names_the_numbers_and_both_exact_fixes(here):
    path = settings(here, FLEET, head=HEAD.replace("stop_grace_s = 3", "stop_grace_s = 10"))
    result, plan = lint_and_compile(str(path), _options())
    assert plan is None
    (d,) = result.diagnostics
    assert d.code == "GW623" and d.pointer == "/fleet/lease_ttl_s" and d.path == str(path)
    assert d.range.start.line == (HEAD + FLEET).splitlines().index("lease_ttl_s = 10") + 1
    for number in ("lease_ttl_s = 10", "stop_grace_s = 10", "-0.45 s", "margin 0.45", "5.33 s", "every 3.33 s", "within 2.00 s"):
        assert number in d.message, (number, d.message)
    assert d.hint == "lower stop_grace_s to at most 4.21, or raise [fleet] lease_ttl_s to at least 18.95"
    # both fixes hold, exactly at the numbers given
    assert fleet_budget(10, 4.21).feasible and fleet_budget(18.95, 10).feasible
    for fixed in (HEAD.replace("stop_grace_s = 3", "stop_grace_s = 4.21"), HEAD.replace("stop_grace_s = 3", "stop_grace_s = 10")):
        fleet = FLEET if "4.21" in fixed else FLEET.replace("lease_ttl_s = 10", "lease_ttl_s = 18.95")
        _, ok = lint_and_compile(str(settings(here, fleet, head=fixed)), _options())
        assert ok is not None and ok.fleet is not None


def test_when_no_ttl_can_cover_the_grace_the_hint_says_so(here):
    path = settings(here, FLEET.replace("lease_ttl_s = 10", "lease_ttl_s = 300"), head=HEAD.replace("stop_grace_s = 3", "stop_grace_s = 200"))
    result, plan = lint_and_compile(str(path), _options())
    (d,) = result.diagnostics
    assert d.code == "GW623"
    assert d.hint.startswith(f"lower stop_grace_s to at most {max_stop_grace_s(300):.2f}".rstrip("0").rstrip("."))
    assert "raising lease_ttl_s cannot help" in d.hint and "above its 300 s limit" in d.hint


def test_check_and_plan_agree_on_the_budget(here):
    settings(here, FLEET, head=HEAD.replace("stop_grace_s = 3\n", ""))  # default grace 10
    c = run(["check", "gatewayctl.toml"])
    p = run(["plan", "--out", "plan.json"])
    assert c.exit_code == p.exit_code == exitcodes.DIAGNOSTICS
    assert "error[GW623]" in c.stdout and "error[GW623]" in p.stderr and not (here / "plan.json").exists()


# ------------------------------------------------------ plan round trip


def _options(**kw):
    from gatewayctl.compile.compiler import CompileOptions

    return CompileOptions(**kw)


FULL_FLEET = FLEET + 'settle_s = 1.5\nhost_id = "gw-01"\nusername = { env = "ETCD_USERNAME" }\npassword = { file = "/run/secrets/etcd" }\n'


def test_settings_to_plan_to_file_and_back_give_the_same_fleet(here):
    path = settings(here, FULL_FLEET)
    result, plan = lint_and_compile(str(path), _options())
    assert not result.diagnostics
    want = Fleet(
        backend="etcd",
        endpoints=("http://10.0.0.5:2379", "http://10.0.0.6:2379"),
        prefix="/gatewayctl/prod",
        lease_ttl_s=10.0,
        settle_s=1.5,
        host_id="gw-01",
        username=SecretRef("username", "env", "ETCD_USERNAME"),
        password=SecretRef("password", "file", "/run/secrets/etcd"),
    )
    assert plan.fleet == want and plan.format_version == FLEET_FORMAT_VERSION
    assert plan.fleet.budget(plan.stop_grace_s) == fleet_budget(10, 3, 1.5)
    planfile.write(plan, "plan.json")
    loaded = planfile.load("plan.json")
    assert loaded == plan and loaded.fleet == want and loaded.format_version == 2
    obj = json.loads((here / "plan.json").read_text(encoding="utf-8"))
    assert obj["format_version"] == 2 and obj["plan"]["fleet"]["host_id"] == "gw-01"
    plan_validator().validate(obj)
    # optional keys absent: null in the plan, None after loading
    _, bare = lint_and_compile(str(settings(here, FLEET)), _options())
    assert bare.fleet == Fleet("etcd", ("http://10.0.0.5:2379", "http://10.0.0.6:2379"), "/gatewayctl/prod", 10.0)
    assert planfile.loads(planfile.dumps(bare)) == bare
    plan_validator().validate(json.loads(planfile.dumps(bare)))


def test_a_plan_without_a_fleet_keeps_its_version_1_bytes(here):
    _, plain = lint_and_compile(str(settings(here, "")), _options())
    data = planfile.dumps(plain)
    obj = json.loads(data)
    assert obj["format_version"] == 1 and "fleet" not in obj["plan"]
    plan_validator().validate(obj)
    _, with_fleet = lint_and_compile(str(settings(here, FLEET)), _options())
    # the same plan apart from the fleet: the fleet is the only difference
    a = json.loads(planfile.dumps(with_fleet))
    del a["plan"]["fleet"]
    a["plan"]["settings"] = obj["plan"]["settings"]
    assert a["plan"] == obj["plan"]


def _envelope(body: dict, version) -> str:
    return json.dumps(
        {"format_version": version, "plan": body, "plan_sha256": hashlib.sha256(planfile.canonical_bytes(body)).hexdigest()}
    )


def test_format_version_and_fleet_must_agree(here):
    _, fleet_plan = lint_and_compile(str(settings(here, FLEET)), _options())
    _, plain = lint_and_compile(str(settings(here, "")), _options())
    with_fleet = planfile.plan_to_json(fleet_plan)
    without = planfile.plan_to_json(plain)
    for body, version, words in ((with_fleet, 1, "has a fleet object"), (without, 2, "needs a fleet object")):
        with pytest.raises(planfile.PlanError) as exc:
            planfile.loads(_envelope(body, version), source="p.json")
        assert exc.value.kind == "malformed" and words in exc.value.message
        # the schema says the same on its own
        errors = list(plan_validator().iter_errors(json.loads(_envelope(body, version))))
        assert errors


def test_an_unknown_format_version_is_refused_with_exit_5_and_what_this_gatewayctl_reads(here):
    """What an older gatewayctl does with a version 2 plan, shown with the
    version this one does not know (3)."""
    _, fleet_plan = lint_and_compile(str(settings(here, FLEET)), _options())
    (here / "future.json").write_text(_envelope(planfile.plan_to_json(fleet_plan), 3), encoding="utf-8")
    r = run(["plan", "show", "future.json"])
    assert r.exit_code == exitcodes.PLAN_VERSION == 5
    assert "plan format_version 3 is not supported by this gatewayctl (it reads format_version 1 and 2)" in r.stderr
    g = run(["gateway", "run", "--plan", "future.json", "--trust-plan"])
    assert g.exit_code == exitcodes.PLAN_VERSION and "format_version 3" in g.stderr


def test_the_plan_schema_bounds_are_the_settings_schemas():
    from gatewayctl.catalog import load_schema

    src = load_schema("settings")["properties"]["fleet"]["properties"]
    dst = load_schema("plan")["definitions"]["plan"]["properties"]["fleet"]["properties"]
    assert dst["backend"]["enum"] == src["backend"]["enum"]
    assert dst["endpoints"]["items"]["pattern"] == src["endpoints"]["items"]["pattern"]
    assert (dst["prefix"]["pattern"], dst["prefix"]["maxLength"]) == (src["prefix"]["pattern"], src["prefix"]["maxLength"])
    assert dst["host_id"]["pattern"] == src["host_id"]["pattern"]
    for key in ("lease_ttl_s", "settle_s"):
        assert (dst[key]["minimum"], dst[key]["maximum"]) == (src[key]["minimum"], src[key]["maximum"])


# ----------------------------------------------------- show, diff, CLI


def test_plan_show_prints_the_fleet_and_its_budget(here):
    settings(here, FULL_FLEET)
    assert run(["plan", "--out", "plan.json"]).exit_code == 0
    r = run(["plan", "show", "plan.json"])
    assert r.exit_code == 0
    out = r.stdout
    assert "(format_version 2)" in out
    assert "  fleet        etcd, prefix /gatewayctl/prod, host id gw-01\n" in out
    assert "    endpoints  http://10.0.0.5:2379, http://10.0.0.6:2379\n" in out
    assert "    lease      ttl 10s, renewed every 3.33s (each request within 2s)\n" in out
    assert "stop taking work 6.55s and are gone 9.55s after a renewal is sent (margin 0.45s, stop grace 3s)" in out
    assert "    view       read every 0.5s; settle 1.5s before the first claim\n" in out
    assert "    username   <- env ETCD_USERNAME\n" in out and "    password   <- file /run/secrets/etcd\n" in out
    settings(here, "")
    assert run(["plan", "--out", "plain.json"]).exit_code == 0
    assert "fleet" not in run(["plan", "show", "plain.json"]).stdout


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("", FLEET, "fleet.prefix"),
        (FLEET, "", "fleet.prefix"),
        (FLEET, FLEET.replace("lease_ttl_s = 10", "lease_ttl_s = 12"), "fleet.lease_ttl_s"),
        (FLEET, FLEET.replace("/gatewayctl/prod", "/gatewayctl/stage"), "fleet.prefix"),
        (FLEET, FLEET + 'host_id = "gw-02"\n', "fleet.host_id"),
    ],
)
def test_plan_diff_marks_any_fleet_change_as_a_full_restart(here, old, new, field):
    _, a = lint_and_compile(str(settings(here, old)), _options())
    _, b = lint_and_compile(str(settings(here, new)), _options())
    diff = diff_plans(a, b)
    assert diff.needs_full_restart
    fleet_changes = [o for o in diff.owner if o.change.field.split(".", 1)[0] == "fleet"]
    assert fleet_changes and all(o.needs_restart for o in fleet_changes)
    assert any(o.change.field == field for o in fleet_changes)
    assert [lane.action for lane in diff.lanes] == ["unchanged"]  # the lanes themselves run the same


def test_plan_diff_cli_says_full_restart_for_a_fleet_change(here):
    settings(here, FLEET)
    run(["plan", "--out", "old.json"])
    settings(here, FLEET.replace("lease_ttl_s = 10", "lease_ttl_s = 12"))
    run(["plan", "--out", "new.json"])
    r = run(["plan", "diff", "--json", "old.json", "new.json"])
    body = json.loads(r.stdout)
    assert body["needs_full_restart"] is True
    assert {"field": "fleet.lease_ttl_s", "old": 10.0, "new": 12.0, "needs_full_restart": True} in body["owner"]


def test_check_and_plan_of_the_bundled_fleet_example_as_a_user_runs_them(tmp_path):
    example = REPO / "examples" / "fleet" / "gatewayctl.toml"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GATEWAYCTL_HOME": str(tmp_path / "gw")}
    c = subprocess.run([sys.executable, "-m", "gatewayctl", "check", str(example)], capture_output=True, text=True, env=env, timeout=120)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "checked 2 files: no problems found" in c.stdout
    out = tmp_path / "fleet-plan.json"
    p = subprocess.run(
        [sys.executable, "-m", "gatewayctl", "plan", "--file", str(example), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    obj = json.loads(out.read_text(encoding="utf-8"))
    assert obj["format_version"] == 2 and obj["plan"]["fleet"]["prefix"] == "/gatewayctl/prod"
    plan_validator().validate(obj)
    v = subprocess.run([sys.executable, "-m", "gatewayctl", "plan", "verify", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert v.returncode == 0, v.stdout + v.stderr


# ---------------------------------------------- lane definition digests

TWO_FAMILIES = """\
[telegram]
enabled = true
default_account = "bot"

[telegram.accounts.bot]
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]

[feishu]
enabled = true
domain = "lark"
default_account = "work"

[feishu.accounts.work]
app_id = { env = "LARK_APP_ID" }
app_secret = { env = "LARK_APP_SECRET" }
allowed_chat_ids = ["oc_ops"]
"""

SETTINGS = 'loong_config = "config.toml"\n\n[handler]\necho = true\n'


def _digests(config: str, settings_text: str = SETTINGS, selectors=None) -> dict:
    plan, findings, diags = compile_text(config, settings=settings_text, selectors=selectors)
    assert plan is not None, (findings, diags)
    return planfile.lane_definition_digests(plan)


def test_each_lane_has_the_sha256_of_its_canonical_definition():
    plan, _, _ = compile_text(TWO_FAMILIES, settings=SETTINGS)
    digests = planfile.lane_definition_digests(plan)
    assert set(digests) == {"feishu/work", "telegram/bot"} == {lane.name for lane in plan.lanes}
    body = planfile.plan_to_json(plan)
    lane = next(ln for ln in body["lanes"] if ln["family"] == "telegram")
    definition = planfile.lane_definition(body, lane, provenance=False)
    assert digests["telegram/bot"] == hashlib.sha256(planfile.canonical_bytes(definition)).hexdigest()
    assert "family" not in definition and "alias" not in definition and definition["handler"]["kind"] == "echo"


def test_a_change_in_another_lane_leaves_a_lanes_digest_alone():
    base = _digests(TWO_FAMILIES)
    other = _digests(TWO_FAMILIES.replace('allowed_chat_ids = ["oc_ops"]', 'allowed_chat_ids = ["oc_ops", "oc_dev"]'))
    assert other["telegram/bot"] == base["telegram/bot"]
    assert other["feishu/work"] != base["feishu/work"]


def test_a_changed_setting_secret_or_plan_wide_field_changes_the_digest():
    base = _digests(TWO_FAMILIES)
    assert _digests(TWO_FAMILIES.replace("[123456789]", "[123456789, 42]"))["telegram/bot"] != base["telegram/bot"]
    assert _digests(TWO_FAMILIES.replace('{ env = "TELEGRAM_BOT_TOKEN" }', '{ env = "TG_TOKEN_2" }'))["telegram/bot"] != base["telegram/bot"]
    # a plan-wide field every lane runs with changes every lane
    graced = _digests(TWO_FAMILIES, SETTINGS.replace("[handler]", "stop_grace_s = 5\n\n[handler]"))
    assert graced["telegram/bot"] != base["telegram/bot"] and graced["feishu/work"] != base["feishu/work"]


def test_provenance_alone_does_not_change_the_digest():
    by_default = _digests(TWO_FAMILIES)  # account_source explicit_default, no alias
    by_alias = _digests(TWO_FAMILIES, selectors=["lark=work", "telegram=bot"])  # selector, alias "lark"
    by_name = _digests(TWO_FAMILIES, selectors=["feishu=work", "telegram=bot"])  # selector, alias "feishu"
    assert by_default == by_alias == by_name
    plans = [compile_text(TWO_FAMILIES, settings=SETTINGS, selectors=s)[0] for s in (None, ["lark=work", "telegram=bot"])]
    a, b = (p.lane("feishu") for p in plans)
    assert (a.alias, a.account_source) != (b.alias, b.account_source)  # the provenance really differs


def test_plan_diff_and_the_digests_share_one_definition():
    """`plan diff` calls a lane unchanged exactly when its digest is equal."""
    variants = [
        (TWO_FAMILIES, None),
        (TWO_FAMILIES, ["lark=work", "telegram=bot"]),
        (TWO_FAMILIES.replace("[123456789]", "[7]"), None),
        (TWO_FAMILIES.replace('allowed_chat_ids = ["oc_ops"]', 'allowed_chat_ids = ["x"]'), None),
    ]
    plans = [compile_text(c, settings=SETTINGS, selectors=s)[0] for c, s in variants]
    for a in plans:
        for b in plans:
            da, db = planfile.lane_definition_digests(a), planfile.lane_definition_digests(b)
            for lane in diff_plans(a, b).lanes:
                assert (lane.action == "unchanged") == (da[lane.old_name] == db[lane.new_name]), lane


# ------------------------------------------------- budget, exhaustively


@hyp_settings(max_examples=examples(400), deadline=None)
@given(ttl=st.integers(300, 30000), grace=st.integers(0, 40000))
def test_both_fixes_agree_with_the_budget_everywhere(ttl, grace):
    """For every lease and grace (in hundredths of a second, the precision
    the fixes are given in): feasible exactly when the grace is at most the
    largest one the lease allows, and exactly when the lease is at least the
    smallest one the grace needs."""
    t, g = ttl / 100, grace / 100
    feasible = fleet_budget(t, g).feasible
    x = max_stop_grace_s(t)
    assert feasible == (x is not None and g <= x)
    assert feasible == (t >= min_lease_ttl_s(g))


# ------------------------------------- no [fleet] is ever silently dropped

_VALUES = {
    "backend": st.sampled_from(["etcd", "consul", "", 5, None]),
    "endpoints": st.one_of(
        st.lists(
            st.sampled_from(
                ["http://10.0.0.5:2379", "https://etcd:2379", "http://[::1]:2379", "http://a", "ftp://a:1",
                 "http://u:p@a:1", "http://a:1/x", "http://a:1/", "HTTP://a:1", "http://a:0", "", 7]
            ),
            max_size=3,
        ),
        st.sampled_from(["http://a:1", None]),
    ),
    "prefix": st.sampled_from(["/g", "/gatewayctl/prod", "g", "/g/", "//g", "/g h", "/" + "a" * 128, "", 1]),
    "lease_ttl_s": st.one_of(st.sampled_from([3, 10, 20, 300, 2, 301, "10", True, None]), st.floats(0, 400, allow_nan=False)),
    "settle_s": st.sampled_from([0, 3, 60, -1, 61, "3", None]),
    "host_id": st.sampled_from(["gw-01", "0", "", "-x", "a b", "h" * 65, 3, None]),
    "username": st.sampled_from([{"env": "ETCD_USERNAME"}, {"file": "/u"}, "root", {"exec": ["x"]}, {}, None]),
    "password": st.sampled_from([{"env": "ETCD_PASSWORD"}, {"file": "/p"}, "pw", {"env": "$X"}, {"env": "A", "file": "/b"}, None]),
}


@pytest.fixture(scope="module")
def loong_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet-prop")
    (d / "config.toml").write_text(TELEGRAM, encoding="utf-8")
    return d


_VALID = {
    "backend": "etcd",
    "endpoints": ["http://10.0.0.5:2379"],
    "prefix": "/gatewayctl/prod",
    "lease_ttl_s": 20,
    "settle_s": 3,
    "host_id": "gw-01",
    "username": {"env": "ETCD_USERNAME"},
    "password": {"file": "/p"},
}


@st.composite
def fleet_tables(draw):
    """A valid table with up to three keys replaced by anything (None:
    removed): near a valid table, where a dropped finding would matter."""
    table = dict(_VALID)
    for key in draw(st.lists(st.sampled_from(sorted(_VALUES)), max_size=3, unique=True)):
        table[key] = draw(_VALUES[key])
    return table


@hyp_settings(max_examples=examples(300), deadline=None)
@given(table=fleet_tables(), grace=st.sampled_from([0, 1, 3, 10]))
def test_a_fleet_table_is_refused_or_compiled_whole(loong_dir, table, grace):
    """Whatever the [fleet] table holds: either `check` reports an error (and
    every table the settings schema refuses is one), or the plan carries
    exactly that fleet. Never a plan that quietly runs without it."""
    import jsonschema

    from gatewayctl.catalog import load_schema

    table = {k: v for k, v in table.items() if v is not None}
    doc = {"loong_config": "config.toml", "stop_grace_s": grace, "handler": {"echo": True}, "fleet": table}
    result, plan = lint_and_compile(
        str(loong_dir / "gatewayctl.json"), _options(), data=json.dumps(doc).encode(), base_dir=str(loong_dir)
    )
    schema_ok = jsonschema.Draft7Validator(load_schema("settings")).is_valid(doc)
    if not schema_ok:
        assert result.has_errors and plan is None
    event("refused" if plan is None else "compiled")
    if plan is None:
        assert result.has_errors
        return
    assert schema_ok and not result.has_errors
    f = plan.fleet
    assert f is not None and plan.format_version == 2
    assert (f.backend, list(f.endpoints), f.prefix, f.lease_ttl_s) == (table["backend"], table["endpoints"], table["prefix"], table["lease_ttl_s"])
    assert (f.settle_s, f.host_id) == (table.get("settle_s"), table.get("host_id"))
    for key in ("username", "password"):
        ref = getattr(f, key)
        want = table.get(key)
        assert (ref is None) == (want is None)
        if ref is not None:
            assert {ref.kind: ref.ref} == want and ref.field == key
    assert f.budget(plan.stop_grace_s).feasible
