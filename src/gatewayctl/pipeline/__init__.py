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

from gatewayctl.pipeline.redact import mask_lines, scrub, sensitive_values, source_lines
from gatewayctl.pipeline.suppress import apply_settings_suppressions, apply_suppressions
from gatewayctl.records import field, record

__all__ = [
    "SETTINGS_NAMES",
    "LintResult",
    "find_settings",
    "is_settings_file",
    "loong_config_path",
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


# gatewayctl's own settings file: told apart from a loong config by its
# name, or by its top-level `loong_config` key (docs/config.md).
SETTINGS_NAMES = ("gatewayctl.toml", "gatewayctl.yaml", "gatewayctl.yml", "gatewayctl.json")
SETTINGS_KEY = "loong_config"


@record
class LintResult:
    """One pass: every diagnostic (scrubbed), and the masked source lines a
    reporter may show (only for files that have diagnostics, unless asked:
    a clean file prints nothing and never pays for the sensitive scan).

    ``doc`` is the loong config; ``settings_doc`` gatewayctl's settings file
    when the pass started from one (then ``plan`` is the compiled plan, or
    None when there were errors). ``inputs`` lists every file the pass read,
    as ``(path, loaded)``, the settings file first.
    """

    shown: str
    doc: object  # source.Document | None
    validated: object  # validate.Validated | None
    diagnostics: tuple
    sources: dict = field(default_factory=dict)
    secrets: frozenset = frozenset()
    suppressed: int = 0  # diagnostics silenced by `# gatewayctl: ignore[...]` comments
    settings_doc: object = None
    plan: object = None
    inputs: tuple = ()

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


def is_settings_file(path: str, data=None) -> bool:
    """A gatewayctl settings file: named gatewayctl.toml/.yaml/.yml/.json, or
    (any name) a table with a top-level ``loong_config`` key."""
    import os

    if os.path.basename(path) in SETTINGS_NAMES:
        return True
    return isinstance(data, dict) and SETTINGS_KEY in data


def find_settings(directory: str = ".") -> str | None:
    """The settings file `plan` and `gateway run` use when given no file:
    gatewayctl.toml (else .yaml, .yml, .json) in ``directory``."""
    import os

    for name in SETTINGS_NAMES:
        candidate = os.path.join(directory, name) if directory != "." else name
        if os.path.isfile(candidate):
            return candidate
    return None


def loong_config_path(settings_path: str, data) -> str | None:
    """The loong config a settings file names: ``~`` expanded, a relative
    path taken relative to the settings file's directory. None when the
    value is missing or not a string (the settings schema reports it)."""
    import os

    value = data.get(SETTINGS_KEY) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = os.path.expanduser(value)
    if not os.path.isabs(value):
        value = os.path.join(os.path.dirname(settings_path), value)
    return os.path.normpath(value)


def lint_file(
    path: str,
    *,
    data: bytes | None = None,
    shown: str | None = None,
    cli_selectors=None,
    always_mask: bool = False,
    fmt: str | None = None,
    options=None,
    base_dir: str | None = None,
) -> LintResult:
    """Load, validate and redact one file.

    A loong config gets loong's verdict only (GW0xx..GW4xx, and GW601 for
    gatewayctl settings left in its [gateway] table). A gatewayctl settings
    file gets both verdicts: the loong config it names, and whether
    gatewayctl can plan and run it (the compiler's GW5xx and the run-time
    GW6xx, with ``options`` or the defaults); the plan is in the result.

    ``data`` given: the bytes are the file (stdin), reported as ``shown``.
    ``cli_selectors`` is a ``selector_doc``; its lines are added to
    ``sources`` so snippets of command-line selectors show too.
    ``always_mask``: compute masked sources even for a clean file (a caller
    that will add diagnostics of its own, such as the compiler's).
    ``fmt`` overrides the format the suffix implies (an editor buffer whose
    language is known but whose name has no suffix). ``base_dir``: where a
    settings file's relative paths are found on disk (a saved plan's
    recompile, `--config-dir`); they are still reported as written.
    """
    from gatewayctl.source import load_document
    from gatewayctl.validate import validate

    shown = shown or path
    if data is not None:
        doc, load_diags = load_document(shown, data=data, fmt=fmt)
    else:
        doc, load_diags = load_document(path, fmt=fmt)
    if doc is not None and is_settings_file(doc.path, doc.data):
        return _lint_settings(doc, cli_selectors, options, base_dir)
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
    return LintResult(
        shown, doc, validated, tuple(diags), sources, secrets, suppressed, inputs=((shown, doc is not None),)
    )


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


@record
class FileLint:
    """What a report needs of one file's pass (LintResult without the
    document and model, so it is cheap to send from a worker process)."""

    shown: str
    loaded: bool
    diagnostics: tuple
    sources: dict
    inputs: tuple = ()  # every file the pass read, as LintResult.inputs


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
    return FileLint(result.shown, result.loaded, result.diagnostics, result.sources, result.inputs)


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


def _lint_settings(settings_doc, cli_selectors, options, base_dir) -> LintResult:
    """Both verdicts for a settings file: its own schema, the loong config
    it names (loaded, validated with the settings' selectors), then the
    plan and the run-time checks."""
    import os

    from gatewayctl.compile.compiler import CompileOptions
    from gatewayctl.diagnostics import Finding
    from gatewayctl.inputs import MAX_CONFIG_BYTES, InputError, read_regular_file
    from gatewayctl.source import load_document
    from gatewayctl.validate import settings_findings as check_settings
    from gatewayctl.validate import settings_sensitive_pointers, validate

    sources: dict[str, tuple[str, ...]] = {}
    if cli_selectors is not None:
        sources[cli_selectors.path] = tuple(source_lines(cli_selectors))
    settings_sensitive = settings_sensitive_pointers(settings_doc.data)
    secrets = sensitive_values(settings_doc, settings_sensitive)
    sources[settings_doc.path] = mask_lines(settings_doc, settings_sensitive)

    def done(diags, doc=None, validated=None, inputs=(), suppressed=0) -> LintResult:
        return LintResult(
            settings_doc.path, doc, validated, tuple(scrub(d, secrets) for d in diags), sources, secrets,
            suppressed, settings_doc=settings_doc, inputs=inputs,
        )

    target = loong_config_path(settings_doc.path, settings_doc.data)
    if target is None:
        diags, n = apply_suppressions(settings_doc, [settings_doc.diagnostic(f) for f in check_settings(settings_doc.data)])
        return done(diags, inputs=((settings_doc.path, True),), suppressed=n)
    on_disk = os.path.join(base_dir, target) if base_dir and not os.path.isabs(target) else target
    try:
        loong_bytes = read_regular_file(on_disk, MAX_CONFIG_BYTES)
    except InputError as exc:
        problem = Finding(
            "GW603",
            "/" + SETTINGS_KEY,
            f"the loong config {target} does not exist"
            if exc.kind == "missing"
            else f"the loong config {target} cannot be read ({exc.reason})",
            hint=f"set {SETTINGS_KEY} to loong's config.toml (a relative path is relative to {settings_doc.path})",
        )
        own = [settings_doc.diagnostic(f) for f in check_settings(settings_doc.data)] + [settings_doc.diagnostic(problem)]
        diags, n = apply_suppressions(settings_doc, own)
        return done(diags, inputs=((settings_doc.path, True), (target, False)), suppressed=n)

    doc, load_diags = load_document(target, data=loong_bytes)
    inputs = ((settings_doc.path, True), (target, doc is not None))
    if doc is None:
        unparsed = _unparsed_sources(on_disk, loong_bytes, target, load_diags)
        if unparsed is not None:
            sources[target] = unparsed
        own, n = apply_suppressions(settings_doc, [settings_doc.diagnostic(f) for f in check_settings(settings_doc.data)])
        return done(list(load_diags) + own, inputs=inputs, suppressed=n)
    validated, vdiags = validate(doc, cli_selectors=cli_selectors, settings_doc=settings_doc)
    vdiags, n1 = apply_suppressions(doc, vdiags)
    vdiags, n2 = apply_suppressions(settings_doc, vdiags)
    # [lint] ignore: suppressions by code and pointer that survive loong
    # rewriting its config without comments
    vdiags, n3 = apply_settings_suppressions(settings_doc, doc, vdiags)
    sensitive = validated.sensitive
    secrets = secrets | sensitive_values(doc, sensitive)
    sources[doc.path] = mask_lines(doc, sensitive)
    result = done(vdiags, doc, validated, inputs, n1 + n2 + n3)
    if result.has_errors:
        return result
    return _compile(result, options if options is not None else CompileOptions())


def _compile(result: LintResult, options) -> LintResult:
    """Compile a linted pass and run the run-time checks; every finding is
    located in the document it points into and scrubbed."""
    import shutil

    from gatewayctl.compile.compiler import compile_plan
    from gatewayctl.compile.feasibility import runtime_findings
    from gatewayctl.diagnostics import ORIGIN_SETTINGS
    from gatewayctl.records import replace

    def place(f):
        target = result.settings_doc if f.origin == ORIGIN_SETTINGS and result.settings_doc is not None else result.doc
        return scrub(target.diagnostic(f), result.secrets)

    plan, findings = compile_plan(result.doc, result.validated, options)
    extra = [place(f) for f in findings]
    if plan is not None:
        extra.extend(
            place(f)
            for f in runtime_findings(plan, result.validated, program_exists=lambda p: shutil.which(p) is not None)
        )
    result = replace(result, diagnostics=result.diagnostics + tuple(extra))
    return replace(result, plan=None if result.has_errors else plan)


def lint_and_compile(path: str, options, *, cli_selectors=None, data: bytes | None = None, base_dir: str | None = None):
    """The pass `plan`, `gateway run` and the recompile of a saved plan
    (pipeline.verify) share: lint, then compile and the run-time checks when
    the lint found no error. Returns ``(LintResult, plan | None)``; the
    compiler's findings are in the result's diagnostics, scrubbed. ``path``
    is a settings file or a loong config (its settings then read from the
    deprecated [gateway] place). ``data``: the file's bytes, already read
    (reported as ``path``); ``base_dir`` as for ``lint_file``."""
    result = lint_file(
        path, data=data, shown=path, cli_selectors=cli_selectors, always_mask=True, options=options, base_dir=base_dir
    )
    if result.settings_doc is not None:
        return result, result.plan
    if result.doc is None or result.has_errors:
        return result, None
    result = _compile(result, options)
    return result, result.plan


def dedupe(diags) -> list:
    """One diagnostic per (path, code, range, message), first one kept."""
    seen: dict = {}
    for d in diags:
        seen.setdefault((d.path, d.code, d.range, d.message), d)
    return list(seen.values())
