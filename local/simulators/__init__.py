"""Provider simulators for the local runtime (reference ERP, GestãoClick, ...)."""

from .base import (
    ControlSettings,
    Fault,
    PortInUseError,
    RecordStore,
    SimulatorControls,
    SimulatorServer,
    StrictClock,
    WebhookSender,
    install_simulator,
)
from .erp import ErpConfig, HubConfig, seed_demo
from .erp import make_app as make_erp_app
from .gestaoclick import GestaoClickConfig
from .gestaoclick import make_app as make_gestaoclick_app

__all__ = [
    "ControlSettings",
    "ErpConfig",
    "Fault",
    "GestaoClickConfig",
    "HubConfig",
    "PortInUseError",
    "RecordStore",
    "SimulatorControls",
    "SimulatorServer",
    "StrictClock",
    "WebhookSender",
    "install_simulator",
    "make_erp_app",
    "make_gestaoclick_app",
    "seed_demo",
]
