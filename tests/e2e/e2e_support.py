"""End-to-end helpers: the local runtime in a subprocess (moto server, simulators, API
front, SQS pollers), driven over HTTP exactly like a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "e2e-admin-key"


@dataclass
class RunningHub:
    """URLs of a running local stack and its console output."""

    api_url: str
    aws_endpoint: str
    simulators: dict[str, str]
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def boto3(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def table(self, logical_id: str) -> str:
        return f"crmhub-local-{logical_id}"

    def wait_idle(self, timeout_s: float = 60) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if httpx.get(f"{self.api_url}/_local/idle", timeout=10).json().get("idle"):
                return True
            time.sleep(0.2)
        return False


# ``python -m local.runtime`` on ports the OS picks, schedules only on demand.
RUNTIME_ON_FREE_PORTS = (
    sys.executable,
    "-m",
    "local.runtime",
    "--api-port",
    "0",
    "--aws-port",
    "0",
    "--sim-port",
    "erp=0",
    "gestaoclick=0",
    "pipedrive=0",
    "bling=0",
    "--no-schedules",
)


def start_hub(*extra: str, timeout_s: float = 120) -> RunningHub:
    """Start ``python -m local.runtime`` on free ports and wait until it is ready."""
    command = [
        *RUNTIME_ON_FREE_PORTS,
        "--admin-key",
        ADMIN_KEY,
        *extra,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    urls: dict[str, str] = {}
    sims: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if m := re.match(r"^API\s+(\S+)", line):
                urls["api"] = m.group(1)
            elif m := re.match(r"^AWS\s+(\S+)", line):
                urls["aws"] = m.group(1)
            elif m := re.match(r"^simulator\s+(\S+)\s+(\S+)", line):
                sims[m.group(1)] = m.group(2)
            elif line.startswith("ready"):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout_s) or process.poll() is not None:
        process.kill()
        raise RuntimeError("local runtime did not start:\n" + "\n".join(lines[-40:]))
    return RunningHub(urls["api"], urls["aws"], sims, process, lines)


def stop_hub(hub: RunningHub) -> None:
    hub.process.terminate()
    try:
        hub.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        hub.process.kill()


def cpf(base9: str) -> str:
    """A valid CPF (check digits computed) from nine digits."""
    from local.simulators.erp import cpf_check_digits

    return base9 + cpf_check_digits(base9)


def gestaoclick_tenant(hub: RunningHub, store: str, *, rate_limit: int = 50) -> str:
    """A store with its ERP and a GestãoClick connection at ``rate_limit`` req/s (the
    simulator gets the same limit); returns the store's API key."""
    from local.demo import setup_tenant

    key = setup_tenant(
        hub.api_url,
        ADMIN_KEY,
        store=store,
        erp_url=hub.simulators["erp"],
        gestaoclick_url=hub.simulators["gestaoclick"],
        rate_limit=rate_limit,
    )
    httpx.post(f"{hub.simulators['gestaoclick']}/_sim/config", json={"rate_limit": rate_limit}).raise_for_status()
    return key
