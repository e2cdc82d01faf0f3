"""Webhook ingress rule GW320: two webhook-served accounts mount the same
path on the shared control port.

Webhook-served accounts are the effectively enabled accounts of Feishu in
``mode = "webhook"`` and of WhatsApp; each mounts its effective
``webhook_path`` (Feishu default /feishu/events, WhatsApp /webhook). The
finding points at the later account's webhook_path, or at the account
table when the path is inherited or defaulted.

Imports only diagnostics and the validate model; never source, compile,
runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterator

from gatewayctl.diagnostics import Finding
from gatewayctl.validate.rules._common import dotted_field, who

DEFAULT_PATHS = {"feishu": "/feishu/events", "whatsapp": "/webhook"}


def served_paths(model) -> Iterator[tuple[object, object, str]]:
    """(family, account, normalized path) for every webhook-served account."""
    for fam in model.families:
        if fam.family not in DEFAULT_PATHS:
            continue
        for acc in fam.accounts:
            if not acc.enabled:
                continue
            if fam.family == "feishu" and acc.settings.get("mode") != "webhook":
                continue
            raw = acc.settings.get("webhook_path", DEFAULT_PATHS[fam.family])
            if not isinstance(raw, str):
                continue  # the schema reports the type
            path = raw.strip() or DEFAULT_PATHS[fam.family]
            if not path.startswith("/"):
                path = "/" + path
            yield fam, acc, path


def check(ctx) -> Iterator[Finding]:
    seen: dict[str, tuple[object, object]] = {}
    for fam, acc, path in served_paths(ctx.model):
        first = seen.get(path)
        if first is None:
            seen[path] = (fam, acc)
            continue
        first_fam, first_acc = first
        own = acc.field_pointer("webhook_path")
        if own is not None and own.startswith(acc.pointer + "/"):
            ptr, target = own, "value"
        else:
            ptr, target = acc.pointer, "key"
        yield Finding(
            "GW320",
            ptr,
            f'{who(fam, acc)} mounts webhook path "{path}", already mounted by {who(first_fam, first_acc)}',
            hint=f"give each webhook-served account its own path: set {dotted_field(fam, acc, 'webhook_path')}",
            target=target,
        )
