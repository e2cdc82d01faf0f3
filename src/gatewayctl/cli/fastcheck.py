"""`gatewayctl check` without click: the pre-commit hook's command line.

A cold `check` of one clean file spends about a third of its time
importing click. This module reads exactly the command lines the click
command (cli/check.py) would accept without a message of its own and runs
them through the same checkrun.execute(); anything else (another command,
--help, an unknown or malformed option, a --format value that is not a
reporter, no files, '-' twice) is left to click, so usage errors and help
text stay click's. tests/test_cli_fastcheck.py proves the two read every
option alike.

Imports no click.
"""

from __future__ import annotations

# option -> the keyword of execute() it fills
_VALUED = {
    "--format": "fmt",
    "--channel-account": "channel_accounts",
    "--selectors": "selectors",
    "--stdin-filename": "stdin_filename",
    "--jobs": "jobs",
    "-j": "jobs",
}
_MULTIPLE = frozenset({"channel_accounts", "selectors"})
_FLAGS = {"--strict": ("strict", True), "--color": ("color", True), "--no-color": ("color", False)}


def parse(args: list[str]) -> dict | None:
    """execute()'s keywords for a `check` command line click would accept
    as is, or None when click must read it."""
    if not args or args[0] != "check":
        return None
    out: dict = {
        "files": [],
        "fmt": "text",
        "strict": False,
        "channel_accounts": [],
        "selectors": [],
        "stdin_filename": None,
        "color": None,
        "jobs": 0,
    }
    rest = args[1:]
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token == "--":
            out["files"].extend(rest[i:])
            break
        if token == "-" or not token.startswith("-"):
            out["files"].append(token)
            continue
        if token.startswith("-j") and len(token) > 2:
            token = "-j=" + token[2:]  # click reads -j4 as -j 4 (and -j=4 as the value "=4", refused below)
            if token.startswith("-j=="):
                return None
        name, eq, value = token.partition("=")
        if name in _FLAGS and not eq:
            key, flag = _FLAGS[name]
            out[key] = flag
            continue
        if name not in _VALUED:
            return None  # -h, --help, a short option, an unknown option: click's
        if not eq:
            if i >= len(rest):
                return None  # click: "requires an argument"
            value = rest[i]
            i += 1
            if value.startswith("-"):
                return None  # an option where a value was expected: click decides
        key = _VALUED[name]
        if key in _MULTIPLE:
            out[key].append(value)
        else:
            out[key] = value  # click: the last one wins
    files = out["files"]
    if not files or files.count("-") > 1:
        return None  # usage errors, worded by click
    from gatewayctl.report import REPORTER_NAMES

    if out["fmt"] not in REPORTER_NAMES:
        return None  # click's "invalid choice" message
    jobs = out["jobs"]
    if isinstance(jobs, str):
        if not (jobs.isascii() and jobs.isdigit()):
            return None  # click's "not a valid integer" (or its own reading of "+4", " 4")
        out["jobs"] = int(jobs)
    out["files"] = tuple(files)
    out["channel_accounts"] = tuple(out["channel_accounts"])
    out["selectors"] = tuple(out["selectors"])
    return out


def fast_check(args: list[str]) -> None:
    """Run `check` and exit when ``args`` is a command line parse() reads;
    return (doing nothing) otherwise."""
    options = parse(args)
    if options is None:
        return
    from gatewayctl.cli.checkrun import execute

    execute(**options)
