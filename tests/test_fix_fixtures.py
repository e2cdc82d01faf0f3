"""The fix corpus: fixtures/fixes/<code>/before.<ext> -> after.<ext>.

For every fixable code, `gatewayctl fix --select <code> --unsafe-fixes`
turns before into exactly after, check on after is clean of that code, and
fixing after changes nothing. `{DIR}` in an after file stands for the
directory the config is fixed in (a moved secret's file path is absolute)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from gatewayctl.diagnostics import CODES
from gatewayctl.fix import fix_file, write
from gatewayctl.pipeline import lint_file

ROOT = Path(__file__).resolve().parents[1]
FIXES = ROOT / "fixtures" / "fixes"
BEFORE = sorted(FIXES.glob("*/before.*"))


def _declared_fixable() -> dict[str, set[str]]:
    """Code -> safeties of the fixes the rules declare, as seen on the
    diagnostics of the invalid corpus and of the fix corpus."""
    out: dict[str, set[str]] = {}
    for p in sorted((ROOT / "fixtures").rglob("*")):
        if p.suffix in {".toml", ".yaml", ".json"} and p.is_file() and "after" not in p.name:
            for d in lint_file(str(p)).diagnostics:
                if d.fix is not None:
                    out.setdefault(d.code, set()).add(d.fix.safety)
    return out


def test_every_fixable_code_has_a_fixture_and_is_documented_as_fixable():
    rules = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    declared = _declared_fixable()
    # the minimum: the misspelled-key rename, the inline secret moved
    # out, the legacy spelling rewritten (and the unused suppression dropped)
    assert {"GW101", "GW211", "GW212", "GW210", "GW701"} <= set(declared)
    with_fixtures = {p.parent.name for p in BEFORE}
    assert set(declared) == with_fixtures, "a fixable code without fixtures/fixes/<code>/ (or a fixture for no fix)"
    for code, safeties in declared.items():
        assert code in CODES
        section = rules.split(f"### {code} ", 1)[1].split("\n### ", 1)[0]
        for safety in safeties:
            assert f"Fixable ({safety})" in section, f"docs/rules.md {code} does not say its fix is {safety}"


@pytest.mark.parametrize("before", BEFORE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fix_produces_exactly_after(before, tmp_path):
    code = before.parent.name
    work = tmp_path / before.name
    shutil.copyfile(before, work)
    ff = fix_file(str(work), select=frozenset({code}), unsafe=True)
    assert ff.applied, f"no {code} fix applied; refused: {ff.refused}"
    assert all(a.code == code for a in ff.applied)
    write(ff)
    expected = before.with_name("after" + before.suffix).read_text(encoding="utf-8").replace("{DIR}", str(tmp_path))
    assert work.read_text(encoding="utf-8") == expected
    assert not [d for d in lint_file(str(work)).diagnostics if d.code == code]
    again = fix_file(str(work), select=frozenset({code}), unsafe=True)
    assert not again.changed and not again.applied


def test_a_moved_secret_lands_in_a_0600_file_and_is_never_printed(tmp_path):
    src = FIXES / "GW211" / "before.toml"
    work = tmp_path / "before.toml"
    shutil.copyfile(src, work)
    from gatewayctl.cli.fix import FixSettings, run_fix

    diff_run = run_fix(FixSettings(files=(str(work),), diff=True, unsafe=True))
    assert "wecom-literal-secret" not in diff_run.stdout + diff_run.stderr
    assert "AAEexample" not in diff_run.stdout + diff_run.stderr
    assert "+bot_token = { file = " in diff_run.stdout
    assert not (tmp_path / "before.secrets").exists(), "--diff must write nothing"
    assert work.read_bytes() == src.read_bytes()

    run = run_fix(FixSettings(files=(str(work),), unsafe=True))
    assert "wecom-literal-secret" not in run.stdout + run.stderr
    secret = tmp_path / "before.secrets" / "wecom.accounts.alerts.secret"
    assert secret.read_text() == "wecom-literal-secret\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    assert "wecom-literal-secret" not in work.read_text()


def test_a_taken_secret_file_name_is_never_overwritten(tmp_path):
    work = tmp_path / "c.toml"
    work.write_text('[telegram]\nbot_token = "literal-token-value"\n')
    taken = tmp_path / "c.secrets" / "telegram.bot_token"
    taken.parent.mkdir()
    taken.write_text("someone else's file\n")
    write(fix_file(str(work), unsafe=True))
    assert taken.read_text() == "someone else's file\n"
    assert (tmp_path / "c.secrets" / "telegram.bot_token.2").read_text() == "literal-token-value\n"
    assert 'bot_token = { file = "' + str(tmp_path / "c.secrets" / "telegram.bot_token.2") + '" }' in work.read_text()


def test_unsafe_fixes_need_the_flag_and_safe_ones_do_not(tmp_path):
    work = tmp_path / "c.toml"
    work.write_text('[telegram]\nbot_tokn = { env = "T" }\naccess = "$X"\nbot_token_env = "$TG"\n')
    ff = fix_file(str(work))
    assert [a.code for a in ff.applied] == ["GW210"]
    assert ff.unsafe_skipped == 1
    assert "bot_tokn = " in ff.fixed


def test_unparsable_file_is_untouched(tmp_path):
    from gatewayctl.cli.fix import FixSettings, run_fix

    work = tmp_path / "c.toml"
    work.write_text('[telegram]\nbot_token_env = "$TG"\nbroken = [1,\n')
    before = work.read_bytes()
    out = run_fix(FixSettings(files=(str(work),), unsafe=True))
    assert work.read_bytes() == before
    assert out.exit_code == 1 and "GW002" in out.stdout


def test_a_fix_that_would_add_a_diagnostic_is_refused(tmp_path):
    # renaming `bot_tokn` would define bot_token twice (GW004): refused, file kept
    work = tmp_path / "c.toml"
    work.write_text('[telegram]\nbot_token = { env = "A" }\nbot_tokn = { env = "B" }\n')
    ff = fix_file(str(work), unsafe=True)
    assert not ff.changed
    assert ff.refused and "would not load" in ff.refused[0].reason


def test_write_keeps_the_mode_and_the_bom(tmp_path):
    work = tmp_path / "c.toml"
    work.write_bytes(b'\xef\xbb\xbf[telegram]\r\nbot_token_env = "$TG"\r\n')
    os.chmod(work, 0o640)
    write(fix_file(str(work)))
    assert work.read_bytes() == b'\xef\xbb\xbf[telegram]\r\nbot_token_env = "TG"\r\n'
    assert stat.S_IMODE(work.stat().st_mode) == 0o640


def test_exit_codes(tmp_path):
    from gatewayctl.cli.fix import FixSettings, run_fix

    clean = tmp_path / "clean.toml"
    clean.write_text('[telegram]\nbot_token_env = "$TG"\n')
    assert run_fix(FixSettings(files=(str(clean),))).exit_code == 0
    left = tmp_path / "left.toml"
    left.write_text('[telegram]\nbot_tokn = 1\n')
    assert run_fix(FixSettings(files=(str(left),))).exit_code == 1
    assert run_fix(FixSettings(files=(str(tmp_path / "missing.toml"),))).exit_code == 2


@pytest.mark.parametrize(
    "before, after",
    [
        ('[telegram.bot_tokn]\nenv = "X"\n', '[telegram.bot_token]\nenv = "X"\n'),
        ('[ telegram . "bot_tokn" ]\nenv = "X"\n', '[ telegram . bot_token ]\nenv = "X"\n'),
        ('telegram.bot_tokn = { env = "X" }\n', 'telegram.bot_token = { env = "X" }\n'),
        ('[telegram]\nbot_tokn.env = "X"\n', '[telegram]\nbot_token.env = "X"\n'),
    ],
)
def test_a_rename_edits_only_the_last_part_of_a_dotted_key_or_header(before, after):
    from gatewayctl.fix import fix_text

    ff = fix_text("c.toml", before.encode(), unsafe=True)
    assert ff.fixed == after


def test_fixing_a_settings_file_edits_that_file_only(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "fixtures" / "fixes" / "GW409" / "before.toml").read_text().split("[gateway]")[0]
                      + '[matrix]\naccess_token = "$MATRIX_TOKEN"\n')
    settings = tmp_path / "gatewayctl.toml"
    settings.write_text('loong_config = "config.toml"\nchannel_accounts = ["lark=work, wecom=alerts"]\n[handler]\necho = true\n')
    before_config = config.read_bytes()
    ff = fix_file(str(settings))
    write(ff)
    assert settings.read_text() == 'loong_config = "config.toml"\nchannel_accounts = ["lark=work", "wecom=alerts"]\n[handler]\necho = true\n'
    assert config.read_bytes() == before_config  # its GW212 is fixed by naming it: gatewayctl fix config.toml
    assert [a.code for a in ff.applied] == ["GW409"]
