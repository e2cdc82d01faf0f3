"""gatewayctl installs as a command with `uv tool install .` (issue 13, item 2).

README says to reach `gatewayctl` through the set-up environment or to
install it as a tool. This test does the second for real and offline: uv
(from PyPI, a test dependency) builds this checkout with its declared build
backend and installs it into a scratch tool directory, then the installed
`gatewayctl` runs. No package index is reached: the wheels uv may use are
repacked from this test environment's own installed distributions (the
declared dependencies, and hatchling with its own), exactly the versions
the suite runs with. A missing dependency declaration, a broken build
config or schemas left out of the wheel make it fail.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")


def _requirements(dist: metadata.Distribution, extras=()) -> list[Requirement]:
    out = []
    for text in dist.requires or []:
        req = Requirement(text)
        env = default_environment()
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in ("", *extras)):
            out.append(req)
    return out


def _closure(roots: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Installed distributions that satisfy ``roots``, with their requirements."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in found:
            continue
        dist = metadata.distribution(req.name)
        found[key] = dist
        todo.extend(_requirements(dist, tuple(req.extras)))
    return found


def _repack(dist: metadata.Distribution, wheelhouse: Path) -> Path:
    """A wheel of an installed distribution: its files under site-packages
    (console scripts are regenerated from entry_points.txt on install)."""
    info = next(p for p in dist.files if p.parts[0].endswith(".dist-info"))
    info_dir = info.parts[0]
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines() if line.startswith("Tag:")]
    assert tags, f"{dist.metadata['Name']}: installed without a WHEEL file"
    py, abi, plat = (".".join(sorted({t.split("-")[i] for t in tags})) for i in range(3))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    target = wheelhouse / f"{name}-{dist.version}-{py}-{abi}-{plat}.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as whl:
        for rel in dist.files:
            text = rel.as_posix()
            if text.startswith("..") or "__pycache__" in rel.parts or text == f"{info_dir}/RECORD":
                continue
            if text in (f"{info_dir}/INSTALLER", f"{info_dir}/REQUESTED", f"{info_dir}/direct_url.json"):
                continue
            data = Path(rel.locate()).read_bytes()
            whl.writestr(text, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            writer.writerow([text, f"sha256={digest}", len(data)])
        writer.writerow([f"{info_dir}/RECORD", "", ""])
        whl.writestr(f"{info_dir}/RECORD", record.getvalue())
    return target


@pytest.mark.slow
@pytest.mark.skipif(not UV.exists(), reason="uv is not installed in this environment (it is a test dependency: pip install -e '.[test]')")
def test_uv_tool_install_of_the_checkout_gives_a_working_gatewayctl(tmp_path):
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    ours = metadata.distribution("gatewayctl")
    needed = _closure([*_requirements(ours), Requirement("hatchling>=1.21")])
    for dist in needed.values():
        _repack(dist, wheelhouse)
    # The source as a user has it: the tracked files, no .venv, no caches.
    source = tmp_path / "gatewayctl-src"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    for rel in filter(None, listed.decode().split("\0")):
        src = REPO / rel
        if src.is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, source / rel)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
    }
    proc = subprocess.run(
        [str(UV), "tool", "install", "--offline", "--no-index", "--find-links", str(wheelhouse),
         "--python", sys.executable, str(source)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = tmp_path / "bin" / "gatewayctl"
    assert exe.exists(), proc.stderr
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    version = subprocess.run([str(exe), "--version"], env=clean, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"gatewayctl {ours.version}")
    # the installed tool has its schemas and lints the bundled example
    checked = subprocess.run(
        [str(exe), "check", str(REPO / "examples" / "gateway-rollout.toml")], env=clean, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in checked.stderr and checked.returncode in (0, 1), checked.stdout + checked.stderr
    assert "checked 1 file" in checked.stdout
    where = subprocess.run([str(exe), "schema", "--path", "config"], env=clean, capture_output=True, text=True, timeout=120)
    assert str(tmp_path / "tools") in where.stdout
