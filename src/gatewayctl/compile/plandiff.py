"""What changes between two launch plans: per lane, and for the owner.

Pure: two ``LaunchPlan`` values in, a ``PlanDiff`` out. It compares the
plans' canonical JSON (``planfile.plan_to_json``), so a field the wire
format gains is compared without a change here.

A lane is identified by its family (a plan runs at most one lane per
family). Its definition is the lane's own fields plus the plan-wide
settings every lane runs with (handler, restart policy, stop grace, private
hosts): a changed handler changes every lane, and a live apply must restart
each of them. Owner-level fields that no lane restart can apply (the
control bind and port, the owner mode and session) are listed apart and
marked as needing a full restart. Plans hold no secret values, so nothing
here can print one: a secret appears as its reference (an env name, a
file path, an argv, or a JSON pointer for an inline one).
"""

from __future__ import annotations

from dataclasses import dataclass

# A lane's definition (its own fields plus LANE_WIDE_FIELDS, without its
# identity) is defined once, in planfile, where the fleet's per-lane
# definition digests are computed from it too.
from gatewayctl.compile.planfile import LANE_PROVENANCE, lane_definition

DIFF_FORMAT_VERSION = 1

# Owner fields a running owner cannot change without a full restart (where
# the port came from is provenance: the same port from another source
# changes nothing).
# Who lanes run as (run_as) is resolved once, when the owner claims the slot
# (a root owner refuses root lanes there), so a change needs a restart too.
# The fleet (etcd endpoints, prefix, lease TTL, credentials, host id) is the
# owner's registration and every lane's lease: any change to it, adding or
# removing it included, needs a full restart.
RESTART_FIELDS = ("control", "owner", "run_as", "fleet")
RESTART_LEAVES = frozenset(
    {"control.bind", "control.port", "owner.mode", "owner.session", "run_as", "run_as.user", "run_as.group"}
)
RESTART_PREFIXES = ("fleet",)
# Provenance: shown, but changing it changes nothing that runs.
INFO_FIELDS = ("generator", "config", "settings")
# A difference in LANE_PROVENANCE alone does not replace a lane; it is
# shown beside a real change.


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str  # dotted path, e.g. "settings.mode", "handler.exec", "control.port"
    old: object
    new: object

    def to_json(self) -> dict:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class LaneDiff:
    family: str
    action: str  # "add" | "remove" | "change" | "unchanged"
    old_name: str | None  # "family/account", None when added
    new_name: str | None  # None when removed
    changes: tuple[FieldChange, ...] = ()

    @property
    def name(self) -> str:
        return self.new_name or self.old_name or self.family

    def to_json(self) -> dict:
        return {
            "family": self.family,
            "action": self.action,
            "old": self.old_name,
            "new": self.new_name,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True, slots=True)
class OwnerChange:
    change: FieldChange
    needs_restart: bool

    def to_json(self) -> dict:
        return {**self.change.to_json(), "needs_full_restart": self.needs_restart}


@dataclass(frozen=True, slots=True)
class PlanDiff:
    old_sha256: str
    new_sha256: str
    lanes: tuple[LaneDiff, ...]
    owner: tuple[OwnerChange, ...]

    def count(self, action: str) -> int:
        return sum(1 for lane in self.lanes if lane.action == action)

    @property
    def has_changes(self) -> bool:
        return any(lane.action != "unchanged" for lane in self.lanes) or any(o.needs_restart for o in self.owner)

    @property
    def needs_full_restart(self) -> bool:
        return any(o.needs_restart for o in self.owner)

    def to_json(self, old_label: str, new_label: str) -> dict:
        return {
            "format_version": DIFF_FORMAT_VERSION,
            "old": {"plan": old_label, "plan_sha256": self.old_sha256},
            "new": {"plan": new_label, "plan_sha256": self.new_sha256},
            "changes": self.has_changes,
            "needs_full_restart": self.needs_full_restart,
            "summary": {a: self.count(a) for a in ("add", "change", "remove", "unchanged")},
            "lanes": [lane.to_json() for lane in self.lanes],
            "owner": [o.to_json() for o in self.owner],
        }


def _flatten(value, prefix: str, out: dict) -> None:
    """Dicts become dotted leaves; lists and scalars are leaves (an argv or
    an env list is compared whole: its order means something)."""
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(value[key], f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value


def _field_changes(old: dict, new: dict) -> tuple[FieldChange, ...]:
    a: dict = {}
    b: dict = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    changes = []
    for key in sorted(set(a) | set(b)):
        # An optional field the plan leaves out reads as null (the plan
        # format says so), so absent and null are the same value here.
        x, y = a.get(key), b.get(key)
        if x != y or type(x) is not type(y):  # 1 == 1.0 == True, but a plan that changes 1 to true changed
            changes.append(FieldChange(key, x, y))
    return tuple(changes)


def _lane_name(lane: dict) -> str:
    return f"{lane['family']}/{lane['account_id']}"  # LaunchPlan.Lane.name


def diff_plans(old, new) -> PlanDiff:
    """Compare two ``LaunchPlan`` values."""
    from gatewayctl.compile import planfile

    a, b = planfile.plan_to_json(old), planfile.plan_to_json(new)
    old_lanes = {lane["family"]: lane for lane in a["lanes"]}
    new_lanes = {lane["family"]: lane for lane in b["lanes"]}
    lanes = []
    for family in sorted(set(old_lanes) | set(new_lanes)):
        x, y = old_lanes.get(family), new_lanes.get(family)
        if x is None:
            lanes.append(LaneDiff(family, "add", None, _lane_name(y)))
        elif y is None:
            lanes.append(LaneDiff(family, "remove", _lane_name(x), None))
        else:
            changes = _field_changes(lane_definition(a, x), lane_definition(b, y))
            runs_differently = any(c.field.split(".", 1)[0] not in LANE_PROVENANCE for c in changes)
            lanes.append(
                LaneDiff(family, "change" if runs_differently else "unchanged", _lane_name(x), _lane_name(y),
                         changes if runs_differently else ())
            )
    owner = []
    for key in RESTART_FIELDS + INFO_FIELDS:
        for change in _field_changes({key: a.get(key)}, {key: b.get(key)}):
            needs = change.field in RESTART_LEAVES or change.field.split(".", 1)[0] in RESTART_PREFIXES
            owner.append(OwnerChange(change, needs_restart=needs))
    return PlanDiff(planfile.digest(old), planfile.digest(new), tuple(lanes), tuple(owner))
