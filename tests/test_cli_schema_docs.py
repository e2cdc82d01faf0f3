"""docs/cli.md is the written schema of the command line: every command,
subcommand and long option that the CLI has, and every exit code in
cli/exitcodes.py, appear in it; every anchor it links to exists."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")


def _walk(cmd: click.Command, path: tuple[str, ...]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from _walk(cmd.get_command(ctx, name), path + (name,))


COMMANDS = list(_walk(cli, ()))


def _section(top: str) -> str:
    m = re.search(rf"^## gatewayctl {re.escape(top)}\n(.*?)(?=^## )", DOC, flags=re.S | re.M)
    assert m, f"docs/cli.md has no section '## gatewayctl {top}'"
    return m.group(1)


@pytest.mark.parametrize("path, cmd", [c for c in COMMANDS if c[0]], ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_and_option_is_documented(path, cmd):
    section = _section(path[0])
    assert f"gatewayctl {' '.join(path)}" in section
    for param in cmd.params:
        if isinstance(param, click.Option):
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for opt in longs:
                assert f"`{opt}" in section or f"{opt}`" in section or f" {opt}" in section, (
                    f"{' '.join(path)}: option {opt} is not documented in docs/cli.md"
                )


def test_every_exit_code_is_in_the_table():
    codes = {n: v for n, v in vars(exitcodes).items() if n.isupper() and isinstance(v, int)}
    assert codes
    for name, value in codes.items():
        assert re.search(rf"^\| {value} \| `{name}` \|", DOC, flags=re.M), f"exit code {name}={value} missing"


def test_top_level_help_epilog_agrees_with_the_table():
    help_text = cli.get_help(click.Context(cli))
    listed = {int(v) for v in re.findall(r"(?:^|\s)(\d+)\s+[a-z]", help_text.split("Exit codes")[1].split("Options:")[0], flags=re.M)}
    assert listed == {v for n, v in vars(exitcodes).items() if n.isupper() and isinstance(v, int)}
    for value in listed:
        assert re.search(rf"^\| {value} \|", DOC, flags=re.M), f"--help lists exit code {value}"


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", ["cli.md", "ci.md", "editors.md"])
def test_internal_links_resolve(doc):
    docs = REPO / "docs"
    text = (docs / doc).read_text(encoding="utf-8")
    for target, anchor in re.findall(r"\]\((?!https?:)([^)#]*)(?:#([^)]*))?\)", text):
        file = docs / target if target else docs / doc
        assert file.exists(), f"{doc}: link to missing {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"{doc}: no heading for #{anchor} in {file.name}"
