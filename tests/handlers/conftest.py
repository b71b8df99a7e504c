"""Simulators the handler tests run against (real HTTP servers in threads)."""

import httpx
import pytest


@pytest.fixture
def gestaoclick():
    """The GestãoClick simulator with a budget no test reaches (modules may override)."""
    from local.simulators import SimulatorServer, make_gestaoclick_app

    with SimulatorServer(make_gestaoclick_app()) as server:
        httpx.post(f"{server.url}/_sim/config", json={"rate_limit": 1000}).raise_for_status()
        yield server


@pytest.fixture
def erp():
    """The reference ERP simulator (no hub configured: it notifies nobody)."""
    from local.simulators import SimulatorServer, make_erp_app

    with SimulatorServer(make_erp_app()) as server:
        yield server
