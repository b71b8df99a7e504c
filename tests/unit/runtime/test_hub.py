"""hub.py, context.py and __main__: lifecycle, clear errors, environment, direct invokes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask, request

from local.runtime import (
    HandlerImportError,
    InvocationError,
    Invoker,
    LambdaContext,
    LambdaTimeoutError,
    LocalHub,
    LocalRuntimeError,
    PortInUseError,
    TemplateError,
    UnknownFunctionError,
    load_template,
)
from local.simulators import ControlSettings, SimulatorControls, WebhookSender
from local.simulators.base import PENDING_DELIVERIES

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"
TEMPLATE = FIXTURE / "template.yaml"
REPO = FIXTURE.parents[2]
# Hubs started while the module's hub runs share moto's in-process state: other names.
OTHER = {"stack_name": "other", "parameter_overrides": {"Stage": "prod"}}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def tiny_simulator() -> Flask:
    app = Flask("tiny")

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


def notifying_simulator() -> Flask:
    """Sends a webhook from a background thread, like the ERP; its receiver answers slowly."""
    app = Flask("notifying")
    sender = WebhookSender(SimulatorControls(ControlSettings()))
    app.extensions[PENDING_DELIVERIES] = lambda: sender.pending

    @app.post("/notify")
    def notify() -> dict[str, bool]:
        sender.submit(f"{request.host_url}slow", {"seconds": request.json["seconds"]}, {}, max_attempts=1)
        return {"queued": True}

    @app.post("/slow")
    def slow() -> dict[str, bool]:
        time.sleep(request.json["seconds"])
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    lines: list[str] = []
    running = LocalHub(
        TEMPLATE,
        FIXTURE,
        api_port=0,
        aws_port=0,
        run_pollers=False,
        run_schedules=False,
        simulators={"tiny": (tiny_simulator, 0), "notifying": (notifying_simulator, 0)},
        console=lines.append,
    )
    with running:
        yield running


def test_properties(hub: LocalHub) -> None:
    assert hub.api_url.startswith("http://127.0.0.1:")
    assert hub.aws_endpoint.startswith("http://127.0.0.1:") and hub.aws_endpoint != hub.api_url
    assert hub.queue_urls["WorkQueue"] == f"{hub.aws_endpoint}/123456789012/rt-dev-work.fifo"
    assert hub.table_names == {"ItemsTable": "crmhub-local-ItemsTable", "NamedTable": "rt-dev-named"}
    assert os.environ["WORK_QUEUE_URL"] == hub.queue_urls["WorkQueue"]  # function env, resolved locally
    assert os.environ["AWS_ENDPOINT_URL"] == hub.aws_endpoint
    assert httpx.get(f"{hub.simulators['tiny']}/ping").json() == {"pong": "yes"}


def test_idle_control(hub: LocalHub) -> None:
    body = httpx.get(f"{hub.api_url}/_local/idle", params={"wait": "1"}).json()
    assert body["idle"] is True and body["in_flight"] == 0
    assert body["queues"] == {"WorkQueue": 0, "WorkDeadLetterQueue": 0, "PlainQueue": 0, "PlainDeadLetterQueue": 0}
    assert httpx.get(f"{hub.api_url}/_local/idle", params={"wait": "x"}).status_code == 400
    assert httpx.get(f"{hub.api_url}/_local/nope").status_code == 404


def test_not_idle_while_a_simulator_holds_a_webhook_for_the_hub(hub: LocalHub) -> None:
    # the ERP notifies the hub from a thread: the work it will cause has not reached a queue yet
    httpx.post(f"{hub.simulators['notifying']}/notify", json={"seconds": 1.5}).raise_for_status()
    assert hub.deliveries_pending() == 1
    assert hub.wait_idle(0.5) is False
    assert httpx.get(f"{hub.api_url}/_local/idle").json()["deliveries_pending"] == 1
    assert hub.wait_idle(10) is True
    assert hub.deliveries_pending() == 0


def test_direct_invoke(hub: LocalHub) -> None:
    response = hub.invoke("ApiFunction", {"resource": "/health", "httpMethod": "GET"})
    assert response["statusCode"] == 200
    with pytest.raises(InvocationError, match="ApiFunction failed: RuntimeError: boom") as info:
        hub.invoke("ApiFunction", {"resource": "/crash"})
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(UnknownFunctionError, match="no function 'Nope' in the template"):
        hub.invoke("Nope", {})


def test_handler_that_fails_to_import_is_one_clear_line(hub: LocalHub) -> None:
    with pytest.raises(HandlerImportError) as info:
        hub.invoke("BrokenFunction", {})
    message = str(info.value)
    assert message == (
        "BrokenFunction: importing functions.rt_broken.app failed: ModuleNotFoundError: "
        "No module named 'this_module_does_not_exist_anywhere'"
    )


def test_lambda_context() -> None:
    model = load_template(TEMPLATE)
    ctx = LambdaContext.for_function(model.functions["ApiFunction"], "us-east-1", "123456789012")
    assert ctx.function_name == "rt-dev-api" and ctx.function_version == "$LATEST"
    assert ctx.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:rt-dev-api"
    assert ctx.memory_limit_in_mb == 256 and ctx.log_group_name == "/aws/lambda/rt-dev-api"
    assert ctx.aws_request_id and "[$LATEST]" in ctx.log_stream_name
    first = ctx.get_remaining_time_in_millis()
    time.sleep(0.02)
    assert 4900 < first <= 5000 and ctx.get_remaining_time_in_millis() < first


def test_timeout_is_enforced(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Slow:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: functions/rt_api/, Handler: app.lambda_handler, Timeout: 1}\n"
    )
    lines: list[str] = []
    already = sys.modules.get("functions.rt_api.app")  # the module hub may hold it already
    invoker = Invoker(load_template(template), FIXTURE, console=lines.append)
    try:
        result = invoker.invoke("Slow", {"resource": "/sleep", "seconds": 1.1}, "test")
        assert isinstance(result.error, LambdaTimeoutError) and result.result is None
        assert "Task timed out after 1.00 seconds" in lines[-1]
        assert invoker.invoke("Slow", {"resource": "/sleep", "seconds": 0}, "test").ok
    finally:
        invoker.uninstall()
    assert sys.modules.get("functions.rt_api.app") is already  # only what this invoker imported goes


def test_busy_api_port(busy_port: int) -> None:
    before = os.environ.get("AWS_ENDPOINT_URL")
    started = time.monotonic()
    with pytest.raises(PortInUseError, match=f"API front: port {busy_port} on 127.0.0.1 is already in use"):
        LocalHub(TEMPLATE, FIXTURE, api_port=busy_port, aws_port=0, console=lambda line: None, **OTHER).start()
    assert time.monotonic() - started < 10
    assert os.environ.get("AWS_ENDPOINT_URL") == before  # moto was stopped again, env restored


def test_busy_aws_port(busy_port: int) -> None:
    with pytest.raises(PortInUseError, match=f"moto \\(AWS endpoint\\): port {busy_port}"):
        LocalHub(TEMPLATE, FIXTURE, api_port=0, aws_port=busy_port, console=lambda line: None, **OTHER).start()


def test_busy_simulator_port(busy_port: int) -> None:
    with pytest.raises(PortInUseError, match=f"simulator tiny: port {busy_port}"):
        LocalHub(
            TEMPLATE,
            FIXTURE,
            api_port=0,
            aws_port=0,
            simulators={"tiny": (tiny_simulator, busy_port)},
            console=lambda line: None,
            **OTHER,
        ).start()


def test_malformed_template_fails_before_any_port(tmp_path: Path, busy_port: int) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: !Ref Nope}\n")
    with pytest.raises(TemplateError, match=r"Resources\.Q\.Properties\.VisibilityTimeout: unknown reference 'Nope'"):
        LocalHub(broken, FIXTURE, api_port=busy_port, aws_port=busy_port).start()


def test_preload_reports_import_errors_at_start() -> None:
    before = dict(os.environ)
    with pytest.raises(HandlerImportError, match=r"BrokenFunction: importing functions\.rt_broken\.app failed"):
        LocalHub(
            TEMPLATE, FIXTURE, api_port=0, aws_port=0, preload_handlers=True, console=lambda line: None, **OTHER
        ).start()
    assert dict(os.environ) == before


def test_stop_is_idempotent_and_restores_the_process() -> None:
    env_before, path_before = dict(os.environ), list(sys.path)
    hub = LocalHub(TEMPLATE, FIXTURE, api_port=0, aws_port=0, run_schedules=False, console=lambda line: None, **OTHER)
    hub.start()
    assert "functions.rt_cron.app" not in sys.modules
    assert hub.invoke("CronFunction", {}) == {"seen": 1}
    assert "functions.rt_cron.app" in sys.modules
    started = time.monotonic()
    hub.stop()
    assert time.monotonic() - started < 4  # pollers exit within their 1 s long poll
    hub.stop()
    assert dict(os.environ) == env_before
    assert sys.path == path_before
    assert "functions.rt_cron.app" not in sys.modules  # the next hub gets a cold start
    with pytest.raises(RuntimeError, match="not started"):
        _ = hub.api_url


def test_second_hub_with_the_same_names_is_a_clear_error(hub: LocalHub) -> None:
    with pytest.raises(LocalRuntimeError, match=r"already exists.*another LocalHub/LocalAws runs in this process"):
        LocalHub(TEMPLATE, FIXTURE, api_port=0, aws_port=0, console=lambda line: None).start()
    # the first hub is intact
    assert hub.invoke("ApiFunction", {"resource": "/health"})["statusCode"] == 200
    assert hub.aws is not None and hub.aws.queue_depth(hub.queue_urls["WorkQueue"]) == 0


def test_main_runs_until_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.runtime",
            "--template",
            str(TEMPLATE),
            "--repo-root",
            str(FIXTURE),
            "--api-port",
            "0",
            "--aws-port",
            "0",
            "--no-simulators",
            "--no-schedules",
            "--param",
            "Stage=prod",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("ready"):
                break
        api = next(line.split()[1] for line in lines if line.startswith("API "))
        assert any(line.startswith("AWS ") for line in lines)
        assert any("rt-prod-daily" in line and "on demand only" in line for line in lines)
        assert httpx.get(f"{api}/health").json()["stage"] == "prod"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = proc.stdout.read() if proc.stdout else ""
    assert "ApiFunction" in rest and "GET /health" in rest and "stopping" in rest


def test_main_reports_errors_in_one_line() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.runtime",
            "--template",
            str(TEMPLATE),
            "--repo-root",
            str(FIXTURE),
            "--api-port",
            "0",
            "--aws-port",
            "0",
            "--no-simulators",
            "--param",
            "Stage=qa",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: Parameters.Stage: 'qa' is not one of ['dev', 'prod']"]
