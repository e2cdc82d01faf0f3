"""Pipeline: the one lint pass (load -> validate -> redact) and, for plans,
compile on top of it.

`check`, `plan`, `gateway run --config` (and the commands that edit configs
or serve editors) all call `lint_file` / `lint_and_compile`, so two front
ends can never disagree about a file. The CLI only fills settings and
prints; nothing here prints or decides exit codes.

May import diagnostics, source, selectors, validate and compile; never
runtime, workers, report or cli.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gatewayctl.pipeline.redact import mask_lines, scrub, sensitive_values, source_lines
from gatewayctl.pipeline.suppress import apply_suppressions

__all__ = [
    "LintResult",
    "lint_file",
    "lint_files",
    "FileLint",
    "default_jobs",
    "lint_and_compile",
    "selector_doc",
    "dedupe",
    "mask_lines",
    "scrub",
    "sensitive_values",
    "source_lines",
]


@dataclass(frozen=True, slots=True)
class LintResult:
    """One file's pass: every diagnostic (scrubbed), and the masked source
    lines a reporter may show (only for files that have diagnostics: a clean
    file prints nothing and never pays for the sensitive scan)."""

    shown: str
    doc: object  # source.Document | None
    validated: object  # validate.Validated | None
    diagnostics: tuple
    sources: dict = field(default_factory=dict)
    secrets: frozenset = frozenset()
    suppressed: int = 0  # diagnostics silenced by `# gatewayctl: ignore[...]` comments

    @property
    def loaded(self) -> bool:
        return self.doc is not None

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def selector_doc(selectors):
    """The command-line selectors as a located document, or None when none
    were given (the config's own list then applies)."""
    from gatewayctl.source import selector_document

    return selector_document(list(selectors)) if selectors else None


def lint_file(
    path: str,
    *,
    data: bytes | None = None,
    shown: str | None = None,
    cli_selectors=None,
    always_mask: bool = False,
    fmt: str | None = None,
) -> LintResult:
    """Load, validate and redact one config.

    ``data`` given: the bytes are the file (stdin), reported as ``shown``.
    ``cli_selectors`` is a ``selector_doc``; its lines are added to
    ``sources`` so snippets of command-line selectors show too.
    ``always_mask``: compute masked sources even for a clean file (a caller
    that will add diagnostics of its own, such as the compiler's).
    ``fmt`` overrides the format the suffix implies (an editor buffer whose
    language is known but whose name has no suffix).
    """
    from gatewayctl.source import load_document
    from gatewayctl.validate import validate

    shown = shown or path
    if data is not None:
        doc, load_diags = load_document(shown, data=data, fmt=fmt)
    else:
        doc, load_diags = load_document(path, fmt=fmt)
    diags = list(load_diags)
    sources: dict[str, tuple[str, ...]] = {}
    if cli_selectors is not None:
        sources[cli_selectors.path] = tuple(source_lines(cli_selectors))
    validated = None
    secrets: frozenset[str] = frozenset()
    # A file that did not load shows its error lines with every string and
    # every secret-looking value masked (redact.mask_unparsed_line): without
    # a parse there is no telling which of its values are secrets.
    if doc is None:
        unparsed = _unparsed_sources(path, data, shown, load_diags)
        if unparsed is not None:
            sources[shown] = unparsed
    suppressed = 0
    if doc is not None:
        validated, vdiags = validate(doc, cli_selectors=cli_selectors)
        # Suppressions are part of the pass, so every front end honours
        # them alike; they see the document's own diagnostics only.
        vdiags, suppressed = apply_suppressions(doc, vdiags)
        if vdiags or always_mask:
            sensitive = validated.sensitive
            secrets = sensitive_values(doc, sensitive)
            diags.extend(scrub(d, secrets) for d in vdiags)
            sources[doc.path] = mask_lines(doc, sensitive)
    return LintResult(shown, doc, validated, tuple(diags), sources, secrets, suppressed)


def _unparsed_sources(path: str, data: bytes | None, shown: str, load_diags) -> tuple[str, ...] | None:
    """The masked lines of a file that did not parse: only the lines its
    diagnostics point at (the others empty), or None when there are none."""
    from gatewayctl.pipeline.redact import mask_unparsed_line

    wanted = {d.range.start.line for d in load_diags if d.range is not None and d.path == shown}
    if not wanted:
        return None
    raw = data
    if raw is None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(4 * 1024 * 1024 + 1)
        except OSError:
            return None
        if len(raw) > 4 * 1024 * 1024:
            return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    return tuple(mask_unparsed_line(ln) if n in wanted else "" for n, ln in enumerate(lines, 1))


@dataclass(frozen=True, slots=True)
class FileLint:
    """What a report needs of one file's pass (LintResult without the
    document and model, so it is cheap to send from a worker process)."""

    shown: str
    loaded: bool
    diagnostics: tuple
    sources: dict


def default_jobs() -> int:
    """The CPUs this process may run on."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# Below this many files per worker a fork costs more than it saves (a
# seed-sized file lints in about a millisecond once the modules are loaded).
_FILES_PER_WORKER = 16


def lint_files(paths, *, jobs: int = 1, cli_selectors=None) -> list[FileLint]:
    """``lint_file`` for each path, in ``paths`` order whatever ``jobs`` is.

    ``jobs`` > 1 splits the paths into contiguous shards, one per process:
    this process lints the first, forked workers (which share its loaded
    modules) the others and send their results back through a pipe. A
    worker that fails is not trusted: its shard is linted again here, so
    the results are the same as with ``jobs=1``, only sooner."""
    paths = list(paths)
    workers = max(1, min(jobs, len(paths) // _FILES_PER_WORKER))
    if workers == 1 or not _can_fork():
        return [_light(lint_file(p, cli_selectors=cli_selectors)) for p in paths]
    size, extra = divmod(len(paths), workers)
    shards, start = [], 0
    for i in range(workers):
        end = start + size + (1 if i < extra else 0)
        shards.append(paths[start:end])
        start = end
    children = [_fork_shard(shard, cli_selectors) for shard in shards[1:]]
    out = [_light(lint_file(p, cli_selectors=cli_selectors)) for p in shards[0]]
    for shard, child in zip(shards[1:], children):
        got = _collect(child)
        out.extend(got if got is not None and len(got) == len(shard) else [_light(lint_file(p, cli_selectors=cli_selectors)) for p in shard])
    return out


def _light(result: LintResult) -> FileLint:
    return FileLint(result.shown, result.loaded, result.diagnostics, result.sources)


def _can_fork() -> bool:
    import os

    return hasattr(os, "fork")


def _fork_shard(shard, cli_selectors):
    """(pid, read fd) of a worker linting ``shard``, or None when no worker
    could be started (the shard is then linted here)."""
    import os

    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the worker: lint, send, and leave without running any exit handler
        status = 1
        try:
            os.close(read_fd)
            import pickle

            data = pickle.dumps([_light(lint_file(p, cli_selectors=cli_selectors)) for p in shard], protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _collect(child):
    """A worker's results, or None when it failed in any way."""
    if child is None:
        return None
    import os
    import pickle

    pid, read_fd = child
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - a truncated or garbled result: lint the shard here
        return None


def lint_and_compile(path: str, options, *, cli_selectors=None, data: bytes | None = None):
    """The pass `plan`, `gateway run --config` and the recompile of a saved
    plan (pipeline.verify) share: lint, then compile when the lint found no
    error. Returns ``(LintResult, plan | None)``; the compiler's findings are
    in the result's diagnostics, scrubbed. ``data``: the config's bytes,
    already read (reported as ``path``)."""
    from dataclasses import replace

    from gatewayctl.compile.compiler import compile_plan

    result = lint_file(path, data=data, shown=path, cli_selectors=cli_selectors, always_mask=True)
    if result.doc is None or result.has_errors:
        return result, None
    plan, findings = compile_plan(result.doc, result.validated, options)
    if findings:
        extra = tuple(scrub(result.doc.diagnostic(f), result.secrets) for f in findings)
        result = replace(result, diagnostics=result.diagnostics + extra)
    if result.has_errors:
        return result, None
    return result, plan


def dedupe(diags) -> list:
    """One diagnostic per (path, code, range, message), first one kept."""
    seen: dict = {}
    for d in diags:
        seen.setdefault((d.path, d.code, d.range, d.message), d)
    return list(seen.values())
