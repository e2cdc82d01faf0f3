"""The cold `check` path stays light, and its re-free shortcuts say what
the regular expressions they replace would say.

bench/bench_coldstart.py measures the time; this holds the causes: a clean
check of the seed imports none of the modules that cost it most (each one
was measured there), and every stand-in for a regular expression on that
path (lazyre.CharsetName, catalog._already_normal, the generated
validator's ``\\S``) agrees with re on generated input.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

from gatewayctl import catalog
from gatewayctl.lazyre import ALNUM, LOWER_ALNUM, CharsetName, lazy
from gatewayctl.validate import _schema_compiled
from tests.support import examples

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "examples" / "gateway-rollout.toml"

HEAVY = [
    "dataclasses", "inspect", "typing", "hashlib", "decimal", "pathlib", "difflib", "importlib.util",
    "rtoml", "json", "urllib.parse", "re",
]


def _imported_by_check(path: Path) -> list[str]:
    script = (
        "import sys\n"
        "from gatewayctl.cli.main import main\n"
        "try:\n"
        f"    main(['check', {str(path)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own script's list literal


def test_clean_check_of_the_seed_imports_none_of_the_heavy_modules():
    assert _imported_by_check(SEED) == []


_names = st.text(alphabet=LOWER_ALNUM + "-_A.Zé ", max_size=12)


@settings(max_examples=examples(600), deadline=None)
@given(_names)
def test_already_normal_is_the_regex_it_replaces(text):
    expected = re.fullmatch(r"[a-z0-9](?:[a-z0-9]|[-_](?=[a-z0-9]))*", text) is not None
    assert catalog._already_normal(text) == expected
    if expected:
        assert catalog.normalize_account_id(text) == text


@settings(max_examples=examples(600), deadline=None)
@given(st.text(alphabet=ALNUM + "_.-/ é\n", max_size=10))
def test_charset_names_are_the_regexes_they_replace(text):
    pointer = CharsetName(ALNUM + "_", ALNUM + "_.-")
    profile = CharsetName(LOWER_ALNUM, LOWER_ALNUM + "_-")
    assert pointer.match(text) == (re.match(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z", text) is not None)
    assert profile.match(text) == (re.match(r"[a-z0-9][a-z0-9_-]*\Z", text) is not None)


def test_not_blank_stand_in_is_re_non_space_for_every_code_point():
    stand_in = _schema_compiled.REGEX_PATTERNS["\\S"]
    compiled = re.compile(r"\S")
    for cp in range(0x110000):
        ch = chr(cp)
        assert bool(stand_in.search(ch)) == bool(compiled.search(ch)), hex(cp)
    for text in ("", " ", " \t\u3000", " a ", "\u2028x"):
        assert bool(stand_in.search(text)) == bool(compiled.search(text)), repr(text)
    other = _schema_compiled.REGEX_PATTERNS["^[A-Za-z0-9_][A-Za-z0-9_.-]*$"]
    for text in ("gw", "gw-lane.1", "-x", "a b", "x\n"):
        assert bool(other.search(text)) == bool(re.search(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z", text)), text


def test_lazy_pattern_is_re_once_used():
    pattern = lazy(r"(?i)(secret|token)")
    assert pattern.search("My_TOKEN").group(0) == "TOKEN"
    assert pattern.pattern == "(?i)(secret|token)" and pattern.flags & re.I
    assert pattern.sub("*", "a secret") == "a *"
