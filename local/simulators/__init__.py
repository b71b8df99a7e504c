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
    pending_deliveries,
)
from .bling import BlingConfig
from .bling import make_app as make_bling_app
from .erp import ErpConfig, HubConfig, seed_demo
from .erp import make_app as make_erp_app
from .gestaoclick import GestaoClickConfig
from .gestaoclick import make_app as make_gestaoclick_app
from .pipedrive import PipedriveConfig
from .pipedrive import make_app as make_pipedrive_app

__all__ = [
    "BlingConfig",
    "ControlSettings",
    "ErpConfig",
    "Fault",
    "GestaoClickConfig",
    "HubConfig",
    "PipedriveConfig",
    "PortInUseError",
    "RecordStore",
    "SimulatorControls",
    "SimulatorServer",
    "StrictClock",
    "WebhookSender",
    "install_simulator",
    "make_bling_app",
    "make_erp_app",
    "make_gestaoclick_app",
    "make_pipedrive_app",
    "pending_deliveries",
    "seed_demo",
]
