"""The LaunchPlan: frozen, self-contained, canonical.

Standard library only: the runtime and the lane workers import this module
(and planfile) and nothing else from the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# A plan without a [fleet] table keeps format_version 1, byte for byte; a
# fleet plan is format_version 2, so a gatewayctl that knows only 1 refuses
# it instead of running its lanes without fleet-wide leases.
FORMAT_VERSION = 1
FLEET_FORMAT_VERSION = 2
FORMAT_VERSIONS = (FORMAT_VERSION, FLEET_FORMAT_VERSION)

MODES = ("gateway_headless", "gateway_attached_cli", "multi_channel_serve")
ACCOUNT_SOURCES = ("selector", "explicit_default", "mapped_default", "fallback", "single_account")
RESTART_POLICIES = ("never", "on-failure")
PORT_SOURCES = ("cli", "ephemeral_cli", "env", "settings", "config", "default")
SECRET_KINDS = ("env", "file", "exec", "inline")
HANDLER_KINDS = ("exec", "url", "echo")

# Placeholders the runtime expands when it launches a lane (machine-specific,
# so they never enter the digested plan already expanded):
#   {gatewayctl}   -> the running interpreter + "-m gatewayctl" (several argv items)
#   {plan}         -> the path of the plan file the owner runs
#   {runtime_dir}  -> the owner's runtime directory
RUNTIME_PLACEHOLDERS = ("{gatewayctl}", "{plan}", "{runtime_dir}")
DEFAULT_WORKER = ("{gatewayctl}", "lane", "serve", "--plan", "{plan}", "--lane", "{family}")


def runs_builtin_worker(lane) -> bool:
    """Whether ``lane`` runs `gatewayctl lane serve` (DEFAULT_WORKER, as the
    compiler writes it: {family} already filled in, or a hand-made plan's
    template as is)."""
    filled = tuple(arg.replace("{family}", lane.family) for arg in DEFAULT_WORKER)
    return tuple(lane.worker) in (DEFAULT_WORKER, filled)


# Where a built-in lane listens when its settings name no webhook_bind: the
# workers and the plan-time conflict check (GW611) read this one value.
DEFAULT_WEBHOOK_BIND = "127.0.0.1:8080"


def listen_bind(lane) -> str | None:
    """The host:port a built-in lane listens on, or None when it does not
    listen (Feishu in websocket mode, the polling and websocket families)."""
    if not runs_builtin_worker(lane):
        return None
    if lane.family == "whatsapp" or (lane.family == "feishu" and lane.settings.get("mode") == "webhook"):
        bind = lane.settings.get("webhook_bind")
        return str(bind) if bind else DEFAULT_WEBHOOK_BIND
    return None

# Variables every lane process (and a lane's exec handler) gets from the
# owner's environment besides the names the plan lists: what a process needs
# to run and reach the network, never credentials (those are named in the
# plan, per lane and per handler). Shared here because the runtime and the
# workers may import only this module and planfile; names starting with
# ``LC_`` count as base variables too.
BASE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "GATEWAYCTL_HOME",
)
BASE_ENV_PREFIXES = ("LC_",)

# An environment variable name as a plan may carry it (loong's env pointer
# names: letters, digits, "_", ".", "-"; not starting with "." or "-").
ENV_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


def base_environment(environ) -> dict[str, str]:
    """The base variables present in ``environ`` (see BASE_ENV)."""
    env = {name: environ[name] for name in BASE_ENV if name in environ}
    env.update({k: v for k, v in environ.items() if k.startswith(BASE_ENV_PREFIXES)})
    return env


def freeze(value):
    """Turn JSON-like data into hashable, immutable data (lists->tuples, dicts->sorted pairs)."""
    if isinstance(value, dict):
        return FrozenMap(tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    if isinstance(value, FrozenMap):
        return {k: thaw(v) for k, v in value.items}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class FrozenMap:
    items: tuple[tuple[str, object], ...] = ()

    def get(self, key, default=None):
        for k, v in self.items:
            if k == key:
                return v
        return default

    def __getitem__(self, key):
        for k, v in self.items:
            if k == key:
                return v
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        return any(k == key for k, _ in self.items)

    def keys(self):
        return tuple(k for k, _ in self.items)


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret comes from; never the secret itself.

    kind env: ``ref`` is the variable name; file: the path; exec: the argv
    tuple; inline: a JSON pointer into the config file (the value stays
    there, the plan only points at it).
    """

    field: str
    kind: str
    ref: str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lane:
    family: str
    alias: str | None  # the channel name the user typed in a selector, if any
    account_id: str  # normalized account id
    account_label: str  # the config key (or the implicit id) as written
    account_source: str  # one of ACCOUNT_SOURCES
    settings: FrozenMap  # effective non-secret settings, defaults filled, inheritance applied
    secrets: tuple[SecretRef, ...]
    worker: tuple[str, ...]  # argv; may contain RUNTIME_PLACEHOLDERS
    env: tuple[str, ...]  # names of environment variables the lane reads (never values)

    @property
    def name(self) -> str:
        return f"{self.family}/{self.account_id}"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    policy: str = "never"
    max_restarts: int = 5
    window_s: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Handler:
    kind: str  # one of HANDLER_KINDS
    exec: tuple[str, ...] = ()
    url: str | None = None
    timeout_s: float = 30.0
    # Names (never values) of variables passed through to every lane for the
    # handler ([gateway.handler] env); an exec handler receives exactly these
    # plus BASE_ENV, never the lane's channel credentials.
    env: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunAs:
    """Who lanes and their handlers run as ([gateway.worker] user/group): names,
    resolved on the host that runs the plan. ``user = "root"`` is the explicit
    way to run them as root under a root owner."""

    user: str
    group: str | None = None  # None: the user's primary group


@dataclass(frozen=True, slots=True)
class Control:
    bind: str = "127.0.0.1"
    port: int = 26306
    port_source: str = "default"


FLEET_BACKENDS = ("etcd",)


@dataclass(frozen=True, slots=True)
class Fleet:
    """The [fleet] table of gatewayctl.toml: every host runs the same plan
    and claims each lane fleet-wide under a lease before it starts it.

    ``endpoints``: http(s)://host:port URLs, tried in order. ``prefix``: the
    fleet's key namespace (starts with "/", no trailing "/"). ``settle_s``
    None: the budget's default (min(3, ttl/2)). ``host_id`` None: the host
    name (or ``gateway run --host-id``). ``username``/``password``:
    references only (field "username"/"password", kind env or file); the
    owner resolves them, the plan never holds their values.
    """

    backend: str
    endpoints: tuple[str, ...]
    prefix: str
    lease_ttl_s: float
    settle_s: float | None = None
    host_id: str | None = None
    username: SecretRef | None = None
    password: SecretRef | None = None

    def budget(self, stop_grace_s: float) -> FleetBudget:
        """This fleet's timing budget for lanes with ``stop_grace_s`` (the
        plan's): ``fleet_budget(lease_ttl_s, stop_grace_s, settle_s)``."""
        return fleet_budget(self.lease_ttl_s, stop_grace_s, self.settle_s)


@dataclass(frozen=True, slots=True)
class FleetBudget:
    """How a lease's TTL is spent (docs/fleet.md). All in seconds, measured
    from ``Renewal.sent_mono``: a lane stops taking new work at
    ``lane_stop_after_s`` and must be gone at ``lane_dead_after_s``, before
    the server can expire the lease (``ttl_s``) even with ``margin_s`` of
    scheduling delay and clock-rate drift."""

    ttl_s: float
    renew_every_s: float
    request_timeout_s: float
    margin_s: float
    stop_grace_s: float
    lane_stop_after_s: float
    lane_dead_after_s: float
    poll_s: float
    settle_s: float

    @property
    def feasible(self) -> bool:
        """One missed renewal (a timed-out request) never fences a lane:
        lane_stop_after_s > renew_every_s + request_timeout_s, evaluated in
        exact arithmetic on ttl_s and stop_grace_s as the decimals they are
        written as, so a value exactly at the edge is refused on every
        machine instead of passing or failing by a float rounding (the fix
        numbers of GW623 are exact too)."""
        if not (math.isfinite(self.ttl_s) and math.isfinite(self.stop_grace_s)):
            return False
        return _slack(_decimal(self.ttl_s), _decimal(self.stop_grace_s)) > 0


def fleet_budget(ttl_s: float, stop_grace_s: float, settle_s: float | None = None) -> FleetBudget:
    """The timing budget of a fleet lease (the lint and the runtime read
    this one function)."""
    ttl = float(ttl_s)
    margin = 0.25 + 0.02 * ttl  # scheduling + clock-rate drift (2%)
    dead_after = ttl - margin
    return FleetBudget(
        ttl_s=ttl,
        renew_every_s=ttl / 3,
        request_timeout_s=min(2.0, ttl / 5),
        margin_s=margin,
        stop_grace_s=float(stop_grace_s),
        lane_stop_after_s=dead_after - float(stop_grace_s),
        lane_dead_after_s=dead_after,
        poll_s=min(0.5, ttl / 10),
        settle_s=float(settle_s) if settle_s is not None else min(3.0, ttl / 2),
    )


# The feasibility condition in exact arithmetic, for the numbers a fix names:
#   slack(T, G) = T - (1/4 + T/50) - G - T/3 - min(2, T/5) > 0
# which is piecewise linear and increasing in T.
# fractions (and the decimal module it imports) is loaded only when a budget
# is judged: every lane process imports this module, and lanes are counted
# in memory (issue 17).
def _decimal(value: float):
    """The decimal a number was written as (``4.21``, not the binary float
    nearest to it), as a Fraction: repr gives the shortest text that reads
    back as the same float."""
    from fractions import Fraction

    return Fraction(repr(float(value)))


def _slack(ttl, grace):
    from fractions import Fraction

    return ttl - (Fraction(1, 4) + ttl / 50) - grace - ttl / 3 - min(Fraction(2), ttl / 5)


def max_stop_grace_s(ttl_s: float) -> float | None:
    """The largest stop_grace_s (in hundredths of a second) that
    ``fleet_budget(ttl_s, ...)`` accepts, or None when none does."""
    bound = _slack(_decimal(ttl_s), 0)  # feasible iff grace < bound
    if bound <= 0:
        return None
    hundredths = -((-bound * 100) // 1) - 1  # ceil(bound*100) - 1: strictly below
    while hundredths >= 0 and not fleet_budget(ttl_s, float(hundredths) / 100).feasible:
        hundredths -= 1  # float rounding at the very edge
    return float(hundredths) / 100 if hundredths >= 0 else None


def min_lease_ttl_s(stop_grace_s: float) -> float:
    """The smallest lease_ttl_s (in hundredths of a second) that
    ``fleet_budget(..., stop_grace_s)`` accepts."""
    from fractions import Fraction

    grace = _decimal(stop_grace_s)
    # Up to T = 10, min(2, T/5) = T/5: slack = T*(1 - 1/50 - 1/3 - 1/5) - 1/4 - G;
    # beyond it, T*(1 - 1/50 - 1/3) - 2 - 1/4 - G.
    low = (Fraction(1, 4) + grace) / (1 - Fraction(1, 50) - Fraction(1, 3) - Fraction(1, 5))
    root = low if low <= 10 else (Fraction(9, 4) + grace) / (1 - Fraction(1, 50) - Fraction(1, 3))
    hundredths = (root * 100) // 1 + 1  # floor(root*100) + 1: strictly above
    while not fleet_budget(float(hundredths) / 100, stop_grace_s).feasible:
        hundredths += 1  # float rounding at the very edge
    return float(hundredths) / 100


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    config_path: str  # as given by the user
    config_sha256: str
    mode: str
    session: str | None
    control: Control
    lanes: tuple[Lane, ...]
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    stop_grace_s: float = 10.0
    handler: Handler | None = None
    allow_private_hosts: bool = False
    run_as: RunAs | None = None  # None: lanes run as the owner (refused when that is root)
    generator_name: str = "gatewayctl"
    generator_version: str = "0"
    format_version: int = FORMAT_VERSION
    # gatewayctl's settings file the plan was made from (None: a plain loong
    # config, its settings read from the deprecated [gateway] place)
    settings_path: str | None = None
    settings_sha256: str | None = None
    # gatewayctl.toml [fleet]: None runs under the local slot only.
    fleet: Fleet | None = None

    def __post_init__(self) -> None:
        # The version follows from the content, so no caller can write a
        # fleet plan an older reader would accept as format_version 1.
        version = FLEET_FORMAT_VERSION if self.fleet is not None else FORMAT_VERSION
        if self.format_version != version:
            object.__setattr__(self, "format_version", version)

    def lane(self, key: str) -> Lane | None:
        """Find a lane by family id or ``family/account``."""
        for lane in self.lanes:
            if key in (lane.family, lane.name):
                return lane
        return None
