"""Channel-account selectors: ``--channel-account lark=work`` and friends.

Owns the selector grammar (selectors.lark, shipped as package data), the
``Selector`` value and GW401 (syntax). It is the only importer of lark.
It answers "is this CHANNEL=ACCOUNT, and where are its parts?" and nothing
more: resolving channels and accounts against the catalog and the config is
validate/rules/selectors.py. Imports gatewayctl.diagnostics only; must not
import catalog, source, validate, compile, runtime or cli.
"""

from gatewayctl.selectors.parser import SYNTAX_CODE, Selector, parse_flag_selectors, parse_selectors, show

__all__ = ["SYNTAX_CODE", "Selector", "parse_flag_selectors", "parse_selectors", "show"]
