"""Semantic rules beyond the schema (GW2xx accounts and secrets, GW3xx
serving, URLs, webhook ingress).

Owns ``RuleContext`` and ``run_all``. Each concern is one module exposing
``check(ctx) -> Iterable[Finding]``; ``run_all`` runs them in a fixed order.
``selectors.py`` lives here too but has its own signature and is called by
the validate stage directly, not by ``run_all``.

Rules tolerate ill-typed values silently (the schema stage reports them)
and never put a secret value or a URL password into a message.

May import diagnostics, catalog and the validate model/secrets modules;
never source, compile, runtime, report or cli.
"""

from __future__ import annotations

from gatewayctl.diagnostics import Finding
from gatewayctl.records import record
from gatewayctl.validate.model import ConfigModel

__all__ = ["RULE_MODULES", "RuleContext", "run_all"]


@record
class RuleContext:
    data: object  # the loaded document's data (usually a dict)
    model: ConfigModel


def _modules():
    from gatewayctl.validate.rules import accounts, secrets, serving, urls, values, webhooks

    return (accounts, secrets, serving, urls, webhooks, values)


RULE_MODULES = ("accounts", "secrets", "serving", "urls", "webhooks", "values")


def run_all(ctx: RuleContext) -> list[Finding]:
    """Every rule's findings, module by module, in a stable order."""
    findings: list[Finding] = []
    for module in _modules():
        findings.extend(module.check(ctx))
    return findings
