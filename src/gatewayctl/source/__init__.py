"""Source: turn config bytes into a located ``Document``.

Owns reading files, decoding, parsing TOML/YAML/JSON, the GW0xx load
diagnostics and the JSON-pointer -> source-range locator. It is the only
package that imports TOML and YAML libraries (rtoml, tomllib, ruamel.yaml;
not tomlkit, whose item tree keeps no source offsets: see toml_scan). It
may import ``gatewayctl.diagnostics`` and the
standard library only; it must not import catalog, selectors, validate,
compile, runtime, workers, report or cli.

A load failure is a value: ``load_document`` returns ``(None, diagnostics)``
and never raises for anything a user can put in a file.
"""

from __future__ import annotations

from gatewayctl.source.document import Document, selector_document
from gatewayctl.source.loader import FORMATS, load_document

__all__ = ["FORMATS", "Document", "load_document", "selector_document"]
