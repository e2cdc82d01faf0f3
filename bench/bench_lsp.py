"""gatewayctl lsp: time from a didChange to its publishDiagnostics.

A warm server (the seed-sized example config, examples/gateway-rollout.toml,
opened and linted a few times first) gets one edit at a time, alternating
between the config as shipped (no diagnostics) and the same config with a
misspelled key (GW101 and the GW302 it causes), and the time until the diagnostics *of that
version* arrive is measured. Edits are spaced by more than the debounce
window (like the pauses in real typing), so each one takes the leading edge
and the number is the server's own latency, not the window. Goal: median
under 20 ms.

Peer: what an editor without a language server pays for the same answer,
`gatewayctl check` on the file in a fresh process (run on save).

Usage: .venv/bin/python bench/bench_lsp.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, fmt_s, interleaved, median, tool  # noqa: E402

EXAMPLE = REPO / "examples" / "gateway-rollout.toml"
DEBOUNCE_MS = 150  # the server's default window


async def measure(path: Path, runs: int, warmup: int) -> list[float]:
    text = path.read_text()
    typo = text.replace("allowed_chat_ids", "allowed_chat_idz", 1)  # GW101, and GW302 (no allowlist left)
    assert typo != text
    client = LanguageClient("bench", "1")
    waiting: dict[int, asyncio.Future] = {}

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: lsp.PublishDiagnosticsParams):
        fut = waiting.pop(params.version, None)
        if fut is not None and not fut.done():
            fut.set_result((time.perf_counter(), len(params.diagnostics)))

    await client.start_io(sys.executable, "-m", "gatewayctl", "lsp")
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=path.parent.as_uri()))
    client.initialized(lsp.InitializedParams())
    uri = path.as_uri()
    loop = asyncio.get_running_loop()
    waiting[1] = loop.create_future()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text)))
    await asyncio.wait_for(waiting.get(1) or asyncio.sleep(0), 30)
    samples = []
    for i in range(warmup + runs):
        version = i + 2
        body = typo if i % 2 == 0 else text
        await asyncio.sleep((DEBOUNCE_MS + 50) / 1000)  # a pause in typing
        fut = waiting[version] = loop.create_future()
        t0 = time.perf_counter()
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=body)],
            )
        )
        t1, count = await asyncio.wait_for(fut, 30)
        if count != (2 if body is typo else 0):
            raise SystemExit(f"unexpected diagnostics count {count} for version {version}")
        if i >= warmup:
            samples.append(t1 - t0)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--peer-runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gateway-rollout.toml"
        path.write_text(EXAMPLE.read_text())
        samples = asyncio.run(measure(path, args.runs, args.warmup))
        peer = interleaved({"check": [tool("gatewayctl"), "check", str(path)]}, args.peer_runs)["check"]
    ours = median(samples)
    print(f"didChange -> publishDiagnostics, warm server, {EXAMPLE.name}, median of {args.runs}:")
    print(f"    gatewayctl lsp          {fmt_s(ours)}  (p90 {fmt_s(sorted(samples)[int(len(samples) * 0.9) - 1])}; goal < 20 ms)")
    print(f"    gatewayctl check (cold) {fmt_s(median(peer))}")
    print(f"    ratio (peer / ours)     {median(peer) / ours:.1f}x")


if __name__ == "__main__":
    main()
