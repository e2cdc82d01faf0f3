"""`gatewayctl plan diff`: what a rollout would change, lane by lane.

run_diff() loads both plans (verified exactly as `plan show` loads them:
a tampered or unknown-version plan is refused with its own exit code),
asks compile.plandiff what changed and renders it. Exit codes are decided
here.
"""

from __future__ import annotations

import json
import sys

import click

from gatewayctl.cli import exitcodes
from gatewayctl.cli.plan import Outcome, _plan_error_outcome
from gatewayctl.diagnostics import escape_controls

RUNNING = "<running>"

_EPILOG = (
    "\b\nExit codes:\n"
    "  0  diff printed (with --exit-code: the plans are the same)\n"
    "  1  with --exit-code: the plans differ (like `git diff --exit-code`)\n"
    "  2  usage error\n"
    "  3  --running: no gateway owner is running here\n"
    "  4  a plan is tampered (digest mismatch)\n"
    "  5  a plan has an unknown format_version\n"
    "  7  a plan is unreadable or not a plan\n"
)

_SYMBOL = {"add": "+", "remove": "-", "change": "~", "unchanged": "="}
_VERB = {"add": "will be added", "remove": "will be removed", "change": "will be replaced", "unchanged": "unchanged"}
_COLOR = {"add": "green", "remove": "red", "change": "yellow", "unchanged": None}


def _value(v) -> str:
    if v is None:
        return "(none)"
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def render(diff, old_label: str, new_label: str, *, color: bool = False) -> str:
    def paint(text: str, action: str) -> str:
        # Paths, field names and values come from plans someone else may
        # have written: escaped like every human output, before colouring.
        text = escape_controls(text)
        fg = _COLOR.get(action)
        return click.style(text, fg=fg) if color and fg else text

    lines = [paint(f"plan diff {old_label} ({diff.old_sha256[:12]}) -> {new_label} ({diff.new_sha256[:12]})", ""), ""]
    for lane in diff.lanes:
        head = f"  {_SYMBOL[lane.action]} lane {lane.family}"
        if lane.action == "change" and lane.old_name != lane.new_name:
            head += f" ({lane.old_name} -> {lane.new_name})"
        else:
            head += f" ({lane.name})"
        lines.append(paint(f"{head} {_VERB[lane.action]}", lane.action))
        for c in lane.changes:
            lines.append(paint(f"      ~ {c.field}: {_value(c.old)} -> {_value(c.new)}", "change"))
    if diff.owner:
        lines += ["", "  owner:"]
        for o in diff.owner:
            c = o.change
            note = "  (needs a full restart: cannot be applied live)" if o.needs_restart else "  (provenance only)"
            lines.append(paint(f"      ~ {c.field}: {_value(c.old)} -> {_value(c.new)}{note}", "change"))
    lines.append("")
    if not diff.has_changes:
        lines.append("No changes: the running lanes already match this plan.")
    else:
        summary = (
            f"Plan: {diff.count('add')} to add, {diff.count('change')} to replace, "
            f"{diff.count('remove')} to remove, {diff.count('unchanged')} unchanged."
        )
        if diff.needs_full_restart:
            summary += " The owner itself changes: a full restart (gateway stop, gateway run) is needed."
        lines.append(summary)
    return "\n".join(lines) + "\n"


def _running_plan():
    """The plan the live owner here runs, or an Outcome saying why not."""
    from gatewayctl.compile import planfile
    from gatewayctl.runtime import RuntimePaths, System, active_owner, load_status

    paths = RuntimePaths.from_env()
    system = System()
    if active_owner(paths, system) is None:
        return None, Outcome("", f"error: no gateway owner is running here ({paths.runtime_dir})\n", exitcodes.NOT_RUNNING)
    try:
        plan = planfile.load(paths.plan)
    except planfile.PlanError as exc:
        return None, _plan_error_outcome(exc)
    expected = load_status(paths, system).get("plan_sha256")
    if expected and expected != planfile.digest(plan):
        return None, Outcome(
            "", escape_controls(f"error: {paths.plan} is not the plan the owner runs (its status names {expected[:12]})") + "\n",
            exitcodes.PLAN_TAMPERED,
        )
    return plan, None


def run_diff(old_path: str | None, new_path: str, *, as_json: bool = False, exit_code: bool = False, color: bool = False) -> Outcome:
    from gatewayctl.compile import planfile
    from gatewayctl.compile.plandiff import diff_plans

    if old_path is None:
        old, problem = _running_plan()
        if problem is not None:
            return problem
        old_label = RUNNING
    else:
        old_label = old_path
        try:
            old = planfile.load(old_path)
        except planfile.PlanError as exc:
            return _plan_error_outcome(exc)
    try:
        new = planfile.load(new_path)
    except planfile.PlanError as exc:
        return _plan_error_outcome(exc)
    diff = diff_plans(old, new)
    if as_json:
        text = json.dumps(diff.to_json(old_label, new_path), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render(diff, old_label, new_path, color=color)
    code = exitcodes.DIAGNOSTICS if (exit_code and diff.has_changes) else exitcodes.OK
    return Outcome(text, "", code)


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG)
@click.argument("plans", metavar="[OLD] NEW", nargs=-1, required=True)
@click.option("--running", is_flag=True, help="Compare against the plan the gateway owner on this host runs (give only NEW).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable diff (schema: `gatewayctl schema plandiff`).")
@click.option("--exit-code", "exit_code", is_flag=True, help="Exit 1 when the plans differ, 0 when they are the same.")
@click.option("--color/--no-color", "color", default=None, help="Colour the text output.")
def diff(plans, running, as_json, exit_code, color):
    """Show what changes between two plans: each lane added, removed,
    replaced (with the fields that differ) or unchanged, and owner-level
    changes that need a full restart.

    \b
    gatewayctl plan diff old.json new.json
    gatewayctl plan diff --running new.json
    """
    from gatewayctl.cli.plan import _finish, _want_color

    if running and len(plans) != 1:
        raise click.UsageError("with --running give only the NEW plan")
    if not running and len(plans) != 2:
        raise click.UsageError("give two plans, OLD and NEW (or --running NEW)")
    old_path, new_path = (None, plans[0]) if running else plans
    _finish(run_diff(old_path, new_path, as_json=as_json, exit_code=exit_code, color=_want_color(color) and not as_json))
