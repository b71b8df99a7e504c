"""layers/compile_bytecode.sh: byte-compiles a layer for the runtime's Python, and only
for that Python; without it the build goes on with a warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import ROOT

SCRIPT = ROOT / "layers" / "compile_bytecode.sh"
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def run(layer: Path, version: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(layer), version],
        env={"PATH": "/usr/bin:/bin", "PYC_PYTHON": python},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def a_layer(tmp_path: Path) -> Path:
    package = tmp_path / "python" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "broken.py").write_text("def (:\n")  # a file no Python 3 compiles
    return tmp_path / "python"


def test_the_runtime_python_writes_unchecked_hash_pycs_and_skips_what_does_not_compile(tmp_path: Path) -> None:
    layer = a_layer(tmp_path)
    done = run(layer, THIS_PYTHON)
    assert done.returncode == 0, done.stderr
    tag = sys.implementation.cache_tag
    pyc = layer / "pkg" / "__pycache__" / f"__init__.{tag}.pyc"
    assert pyc.exists()
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check_source; unchecked-hash is 0b01
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01
    assert not (layer / "pkg" / "__pycache__" / f"broken.{tag}.pyc").exists()
    assert "did not compile" in done.stderr and "compiled 1 .pyc" in done.stdout


def test_another_python_writes_nothing_and_warns(tmp_path: Path) -> None:
    layer = a_layer(tmp_path)
    done = run(layer, "3.13" if THIS_PYTHON != "3.13" else "3.12")
    assert done.returncode == 0
    assert "warning: no Python" in done.stderr and "compiles its modules at every cold start" in done.stderr
    assert not list(layer.rglob("*.pyc"))


def test_a_missing_python_warns_and_the_build_goes_on(tmp_path: Path) -> None:
    layer = a_layer(tmp_path)
    done = run(layer, "3.13", python="/nonexistent/python3.13")
    assert done.returncode == 0 and "warning: no Python 3.13" in done.stderr
    assert not list(layer.rglob("*.pyc"))
