"""``python -m local.runtime``: run the local stack until Ctrl-C / SIGTERM.

Prints the API base URL, the AWS endpoint, each simulator URL, then one line per handler
invocation (function, trigger, outcome, duration; never payload contents).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .hub import LocalHub
from .template import LocalRuntimeError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SIMULATOR_PORTS = {"erp": 3001, "gestaoclick": 3002, "pipedrive": 3003, "bling": 3004}


def _console(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected Key=Value, got {text!r}")
    return key, value


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.runtime", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    parser.add_argument(
        "--repo-root", type=Path, default=None, help="folder holding functions/ (default: the template's folder)"
    )
    parser.add_argument("--api-port", type=_port, default=3000)
    parser.add_argument("--aws-port", type=_port, default=4566)
    parser.add_argument(
        "--param",
        type=_key_value,
        action="extend",
        nargs="+",
        default=[],
        metavar="Key=Value",
        help="template parameter override (repeatable)",
    )
    parser.add_argument("--no-schedules", action="store_true", help="do not fire schedules on their cadence")
    parser.add_argument("--no-pollers", action="store_true", help="do not poll the SQS event sources")
    parser.add_argument("--no-simulators", action="store_true", help="do not start the provider simulators")
    parser.add_argument(
        "--sim-port",
        type=_key_value,
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME=PORT",
        help="simulator port, e.g. erp=3001 (0 = any free port)",
    )
    parser.add_argument("--preload", action="store_true", help="import every handler at start")
    parser.add_argument(
        "--admin-key",
        default=None,
        metavar="KEY",
        help="store this admin API key at start (the demo uses 'local-admin-key')",
    )
    parser.add_argument(
        "--demo", action="store_true", help="register a demo store and sync seeded ERP records to GestãoClick"
    )
    parser.add_argument("--exit-after-demo", action="store_true", help="stop once the demo has run")
    return parser.parse_args(argv)


def default_simulators(ports: dict[str, int]) -> dict[str, tuple[Callable[[], Any], int]]:
    """The provider simulators of ``local.simulators`` that import cleanly."""
    specs: dict[str, tuple[Callable[[], Any], int]] = {}
    for name, port in ports.items():
        try:
            module = __import__(f"local.simulators.{name}", fromlist=["make_app"])
        except Exception as exc:  # a simulator being written must not block the hub
            _console(f"simulator {name} unavailable ({type(exc).__name__}: {exc})")
            continue
        specs[name] = (module.make_app, port)
    return specs


def main(argv: Sequence[str] | None = None, on_started: Callable[[LocalHub], None] | None = None) -> int:
    args = parse_args(argv)
    ports = dict(DEFAULT_SIMULATOR_PORTS)
    for name, value in args.sim_port:
        ports[name] = _port(value)
    simulators = {} if args.no_simulators else default_simulators(ports)
    hub = LocalHub(
        args.template,
        args.repo_root,
        api_port=args.api_port,
        aws_port=args.aws_port,
        parameter_overrides=dict(args.param),
        simulators=simulators,
        run_pollers=not args.no_pollers,
        run_schedules=not args.no_schedules,
        console=_console,
        preload_handlers=args.preload,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            hub.start()
        except LocalRuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"API        {hub.api_url}", flush=True)
        region = hub.model.region if hub.model else ""
        print(f"AWS        {hub.aws_endpoint}  (AWS_ENDPOINT_URL, region {region})", flush=True)
        for name, url in hub.simulators.items():
            print(f"simulator  {name:<12} {url}", flush=True)
        if hub.scheduler is not None:
            for item in hub.scheduler.describe():
                when = item["next_run"] if not args.no_schedules else "on demand only"
                print(
                    f"schedule   {item['name']:<32} {item['expression']} {item['timezone']}  next: {when}", flush=True
                )
        print(f"run a schedule now: curl -X POST {hub.api_url}/_local/schedules/<name>", flush=True)
        if on_started is not None:
            on_started(hub)
        if args.admin_key:
            from local.demo import create_admin_key

            create_admin_key(args.admin_key)
        if args.demo:
            _start_demo(hub, stop, exit_after=args.exit_after_demo)
        print("ready - Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping...", flush=True)
        return 0
    finally:
        hub.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_demo(hub: LocalHub, stop: threading.Event, *, exit_after: bool) -> None:
    """Play the demo in the background so Ctrl-C keeps working."""
    from local.demo import run_demo

    def play() -> None:
        try:
            run_demo(hub, say=_console)
        except Exception as exc:  # the demo must never take the hub down
            _console(f"demo failed: {type(exc).__name__}: {exc}")
        if exit_after:
            stop.set()

    threading.Thread(target=play, name="demo", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
