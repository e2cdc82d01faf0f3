"""Fix: apply the fixes rules declare, as text edits, re-checked one by one.

Owns the fix loop behind `gatewayctl fix` and the language server's quick
fixes: lint (the pipeline's one pass), take the first eligible fix, turn it
into edits at the exact located range (edits.py), re-lint the edited text,
and keep the edit only if its diagnostic is gone and no new one appeared
(compared by code and JSON pointer). Repeat until no eligible fix is left.
A file that does not load is never touched; running the loop again on its
own output changes nothing (each kept fix removed its diagnostic).

Writing is separate (``write``): secret files first (0600, in a 0700
directory, never over another file), then the config, atomically, with its
mode kept. ``diff`` renders a unified diff from the masked source lines of
the pass, so a secret never reaches the output.

May import diagnostics, source (via the pipeline's results), pipeline and
atomicfile; never cli, report, runtime or workers.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from dataclasses import dataclass, field

from gatewayctl.diagnostics import SAFE, UNSAFE, Diagnostic
from gatewayctl.fix.edits import Edit, Planned, SecretFile, apply_edits, plan_edit

__all__ = [
    "Edit",
    "FileFix",
    "Planned",
    "SecretFile",
    "apply_edits",
    "diff",
    "eligible",
    "fix_file",
    "fix_text",
    "own_doc",
    "plan_edit",
    "verify",
    "write",
]

_UTF8_BOM = "\ufeff"
# More fixes than a config has values means a loop that is not converging.
_MAX_ROUNDS = 500


@dataclass(frozen=True, slots=True)
class Applied:
    code: str
    line: int
    title: str
    safety: str


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class FileFix:
    path: str
    before: object  # LintResult of the original text (masked sources)
    after: object  # LintResult of the fixed text (masked sources)
    original: str | None  # text as loaded (BOM excluded); None when it did not load
    fixed: str | None
    bom: bool
    applied: tuple[Applied, ...] = ()
    refused: tuple[Refused, ...] = ()
    unsafe_skipped: int = 0  # eligible but unsafe fixes not applied without --unsafe-fixes
    secret_files: tuple[SecretFile, ...] = field(default=())
    # The edits of each applied fix, in the coordinates of the text it was
    # applied to (for tests and the language server's workspace edits).
    steps: tuple[tuple[Edit, ...], ...] = ()

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original


def eligible(diag: Diagnostic, select: frozenset[str] | None, unsafe: bool) -> bool:
    if diag.fix is None:
        return False
    if select is not None and diag.code not in select:
        return False
    return diag.fix.safety == SAFE or (unsafe and diag.fix.safety == UNSAFE)


def _key(d: Diagnostic) -> tuple[str, str]:
    return (d.code, d.pointer)


def _line(d: Diagnostic) -> int:
    return d.range.start.line if d.range else 0


def _moved(pointer: str, target: Diagnostic) -> str:
    """A diagnostic's pointer as it reads after ``target``'s fix: a renamed
    key moves every pointer under it (a GW210 on `bot_tokn_env` is the same
    finding on `bot_token_env`)."""
    fix = target.fix
    if fix is None or fix.action != "rename-key" or target is None:
        return pointer
    old = target.pointer
    if pointer != old and not pointer.startswith(old + "/"):
        return pointer
    from gatewayctl.diagnostics import escape_pointer_token

    parent = old.rsplit("/", 1)[0]
    return parent + "/" + escape_pointer_token(fix.arg("to")) + pointer[len(old) :]


def verify(before, after, target: Diagnostic) -> str | None:
    """Why the edited text must not be kept, or None when it removed the
    target diagnostic and added none."""
    if own_doc(after) is None:
        codes = ", ".join(sorted({d.code for d in after.diagnostics}))
        return f"the edited file would not load ({codes})"
    own = before.shown
    b = Counter((d.code, _moved(d.pointer, target)) for d in before.diagnostics if d.path == own and d is not target)
    a = Counter(_key(d) for d in after.diagnostics if d.path == own)
    b_target = Counter(_key(d) for d in before.diagnostics if d.path == own)[_key(target)]
    if a[_key(target)] >= b_target:
        return "the edit did not remove the diagnostic"
    added = sorted({k[0] for k in a if a[k] > b[k]})
    if added:
        return f"the edit would add {', '.join(added)}"
    return None


def own_doc(result):
    """The document the pass was given: gatewayctl's settings file when it
    started from one (its result's ``doc`` is then the loong config the
    settings name), else the config itself."""
    settings = getattr(result, "settings_doc", None)
    return settings if settings is not None else result.doc


def _encode(text: str, bom: bool) -> bytes:
    return ((_UTF8_BOM if bom else "") + text).encode("utf-8", "surrogatepass")


def fix_text(path: str, data: bytes, *, select: frozenset[str] | None = None, unsafe: bool = False) -> FileFix:
    """Run the fix loop on ``data`` (the bytes of ``path``); nothing is written."""
    from gatewayctl.pipeline import lint_file

    bom = data.startswith(_UTF8_BOM.encode())
    first = lint_file(path, data=data, always_mask=True)
    if own_doc(first) is None:
        return FileFix(path, first, first, None, None, bom)
    original = own_doc(first).text
    text, current = original, first
    applied: list[Applied] = []
    refused: dict[tuple, Refused] = {}
    secrets: list[SecretFile] = []
    steps: list[tuple[Edit, ...]] = []
    for _ in range(_MAX_ROUNDS):
        todo = [
            d
            for d in current.diagnostics
            if d.path == current.shown and eligible(d, select, unsafe) and (d.code, d.pointer, d.message) not in refused
        ]
        if not todo:
            break
        target = todo[0]
        key = (target.code, target.pointer, target.message)
        planned = plan_edit(own_doc(current), target, config_path=path)
        if planned is None:
            refused[key] = Refused(target.code, _line(target), "the fix cannot be placed exactly here; see the hint")
            continue
        if planned.secret_file is not None and any(s.path == planned.secret_file.path for s in secrets):
            refused[key] = Refused(target.code, _line(target), "another fix already uses that secret file name")
            continue
        new_text = apply_edits(text, planned.edits)
        after = lint_file(path, data=_encode(new_text, bom))
        why = verify(current, after, target)
        if why is not None:
            refused[key] = Refused(target.code, _line(target), why)
            continue
        applied.append(Applied(target.code, _line(target), target.fix.title, target.fix.safety))
        if planned.secret_file is not None:
            secrets.append(planned.secret_file)
        steps.append(planned.edits)
        text, current = new_text, after
    final = lint_file(path, data=_encode(text, bom), always_mask=True) if text != original else first
    skipped = sum(
        1 for d in final.diagnostics if d.path == final.shown and d.fix is not None and d.fix.safety == UNSAFE and not unsafe
        and (select is None or d.code in select)
    )
    return FileFix(
        path, first, final, original, text, bom, tuple(applied), tuple(refused.values()), skipped, tuple(secrets), tuple(steps)
    )


def fix_file(path: str, *, select: frozenset[str] | None = None, unsafe: bool = False) -> FileFix:
    """Read ``path`` and run the fix loop; a file that cannot be read is a
    FileFix whose ``before`` carries the GW001 diagnostic."""
    from gatewayctl.pipeline import lint_file

    from gatewayctl.inputs import MAX_CONFIG_BYTES, InputError, read_regular_file

    try:
        # the loader's own bounded read: a FIFO or /dev/zero is refused, not waited on
        data = read_regular_file(path, MAX_CONFIG_BYTES)
    except InputError:
        result = lint_file(path)  # reports GW001 with the reason
        return FileFix(path, result, result, None, None, False)
    return fix_text(path, data, select=select, unsafe=unsafe)


def write(ff: FileFix) -> None:
    """Write the secret files, then the fixed config atomically. A secret
    file that cannot be created stops the write and the config is left as
    it was. Raises OSError for the caller to report."""
    from gatewayctl import atomicfile

    if not ff.changed:
        return
    created: list[str] = []
    try:
        for s in ff.secret_files:
            if write_secret(s):
                created.append(s.path)
        target = os.path.realpath(ff.path)
        mode = os.stat(target).st_mode & 0o7777
        atomicfile.write_bytes(target, _encode(ff.fixed, ff.bom), mode=mode)
    except BaseException:
        for p in created:
            atomicfile.unlink_quietly(p)
        raise


def write_secret(s: SecretFile) -> bool:
    """Create the file (0600, exclusive); False when it already holds this
    very secret (an earlier, interrupted run)."""
    directory = os.path.dirname(s.path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(s.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        with open(s.path, encoding="utf-8") as fh:
            if fh.read() == s.value:
                return False
        raise
    try:
        view = memoryview(s.value.encode("utf-8"))
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def diff(ff: FileFix) -> str:
    """A unified diff of the fix, built from the masked lines of both
    passes: a secret value never appears in it."""
    if not ff.changed:
        return ""
    before = list(ff.before.sources.get(ff.before.shown, ()))
    after = list(ff.after.sources.get(ff.after.shown, ()))
    from gatewayctl.diagnostics import escape_controls

    a, b = (ff.path, ff.path) if os.path.isabs(ff.path) else (f"a/{ff.path}", f"b/{ff.path}")
    lines = difflib.unified_diff(before, after, a, b, lineterm="")
    # a human format: control characters in the config or its name are shown escaped
    return "".join(escape_controls(line) + "\n" for line in lines)
