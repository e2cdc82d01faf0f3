"""Vendor the TOML examples of loong's own documentation as test data.

    python scripts/extract_loong_docs_toml.py --loong-git-dir DIR [--rev REV] [--out fixtures/loong/docs]

Reads every Markdown page (``.md``/``.mdx``) under ``site/`` and ``docs/`` of
one loong revision, takes each fenced code block whose info string is
``toml``, and writes it unchanged as ``<out>/<page path with / as __>--<n>.toml``
(``n`` counts the page's TOML blocks from 1), under a one-line header naming
the page and line it came from. Only the snippets are copied, never loong's
code. ``<out>/PROVENANCE`` records the repository, the commit, the pages and
this command; files of an earlier extraction are replaced.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "fixtures" / "loong" / "docs"
ROOTS = ("site", "docs")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)[^\n]*$")


def git(git_dir: str, *args: str) -> str:
    out = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"extract_loong_docs_toml: git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def toml_blocks(text: str) -> list[tuple[int, str]]:
    """(line of the opening fence, block text) for each ```toml block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        if lang == "toml":
            blocks.append((start + 1, "\n".join(body) + "\n"))
    return blocks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loong-git-dir", required=True)
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    commit = git(args.loong_git_dir, "rev-parse", f"{args.rev}^{{commit}}").strip()
    pages = [
        p
        for p in git(args.loong_git_dir, "ls-tree", "-r", "--name-only", commit, "--", *ROOTS).splitlines()
        if p.endswith((".md", ".mdx"))
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.toml"):
        old.unlink()
    used = []
    count = 0
    for page in sorted(pages):
        blocks = toml_blocks(git(args.loong_git_dir, "show", f"{commit}:{page}"))
        if not blocks:
            continue
        used.append(f"{page} ({len(blocks)})")
        for n, (line, block) in enumerate(blocks, start=1):
            name = page.replace("/", "__") + f"--{n}.toml"
            (out / name).write_text(f"# loong-docs: {page}:{line}\n{block}", encoding="utf-8")
            count += 1
    (out / "PROVENANCE").write_text(
        "TOML examples from loong's own documentation, vendored as test data\n"
        "(tests/test_loong_docs_examples.py checks each one).\n\n"
        "repository: https://github.com/loongclaw-ai/loongclaw\n"
        f"commit: {commit}\n"
        f"extracted: every ```toml block of the .md/.mdx pages under {', '.join(r + '/' for r in ROOTS)}\n"
        "command: python scripts/extract_loong_docs_toml.py --loong-git-dir "
        f"<loong git dir> --rev {commit}\n"
        "license: MIT (LICENSE-MIT of the loong repository); documentation snippets only, no code\n"
        f"snippets: {count}\n"
        "pages:\n" + "".join(f"  {u}\n" for u in used),
        encoding="utf-8",
    )
    print(f"wrote {count} snippets from {len(used)} pages of loong {commit[:12]} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
