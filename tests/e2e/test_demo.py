"""The README's first command: `make run` starts the hub and plays the demo. Here the same
runtime runs the demo on free ports and exits; the demo's own checks must all succeed."""

import os
import subprocess

import pytest

from e2e_support import ROOT, RUNTIME_ON_FREE_PORTS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_the_demo_syncs_the_seeded_records_and_updates_instead_of_duplicating():
    command = [
        *RUNTIME_ON_FREE_PORTS,
        "--demo",
        "--exit-after-demo",
        "--param",
        "LogLevel=WARNING",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "GestãoClick now has clientes/produtos/vendas = (5, 3, 2)" in output, output[-3000:]
    assert "updated, not duplicated" in output, output[-3000:]
    assert "was not updated" not in output and "see the errors below" not in output
    assert output.count("⇄ gestaoclick") == 5 and "[linked]" in output
