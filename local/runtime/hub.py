"""LocalHub: the whole local stack in one object.

Start order: moto -> queues and tables (from the template) -> simulators -> API front ->
SQS pollers -> schedules. ``stop()`` goes in reverse, is idempotent, and restores the
process environment and ``sys.path``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from local.simulators.base import pending_deliveries

from .api_gateway import ApiGatewayFront, WsgiServer
from .aws import LocalAws
from .context import HandlerImportError, InvocationResult, Invoker
from .schedules import Scheduler, UnknownScheduleError
from .sqs_pollers import PollerGroup
from .template import DEFAULT_STACK_NAME, LocalRuntimeError, TemplateModel, load_template

Console = Callable[[str], None]
SimulatorSpec = tuple[Callable[[], Any], int]


class InvocationError(LocalRuntimeError):
    """``LocalHub.invoke``: the handler raised (the original exception is the cause)."""

    def __init__(self, result: InvocationResult) -> None:
        super().__init__(f"{result.function} failed: {result.error_type}: {result.error}")
        self.result = result


def _default_console(line: str) -> None:
    print(line, flush=True)


class LocalHub:
    """moto + the template's resources + simulators + API front + SQS pollers + schedules.

    Ports of 0 pick free ones (see ``api_url``, ``aws_endpoint``, ``simulators``).
    ``repo_root`` is where ``functions/`` lives (default: the template's folder).
    ``simulators`` maps a name to ``(app_factory, port)``; each factory returns a WSGI app.
    ``api_throttle=False`` disables the usage plan throttle (or lift it with the template's
    parameters); ``api_keys`` restricts the accepted x-api-key values (default: any).
    One hub per process at a time: moto's state is process-global (a second hub with the
    same resource names fails with a clear error). Errors are :class:`LocalRuntimeError`s.
    """

    def __init__(
        self,
        template_path: str | Path,
        repo_root: str | Path | None = None,
        host: str = "127.0.0.1",
        api_port: int = 3000,
        aws_port: int = 4566,
        parameter_overrides: Mapping[str, Any] | None = None,
        simulators: Mapping[str, SimulatorSpec] | None = None,
        run_pollers: bool = True,
        run_schedules: bool = True,
        console: Console | None = None,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        api_throttle: bool = True,
        api_keys: set[str] | None = None,
        preload_handlers: bool = False,
        enforce_timeouts: bool = True,
        poll_wait_s: int = 1,
    ) -> None:
        self.template_path = Path(template_path)
        self.repo_root = Path(repo_root) if repo_root is not None else self.template_path.resolve().parent
        self.host = host
        self.api_port = api_port
        self.aws_port = aws_port
        self.parameter_overrides = dict(parameter_overrides or {})
        self.simulator_specs = dict(simulators or {})
        self.run_pollers = run_pollers
        self.run_schedules = run_schedules
        self.console: Console = console or _default_console
        self.stack_name = stack_name
        self.api_throttle = api_throttle
        self.api_keys = api_keys
        self.preload_handlers = preload_handlers
        self.enforce_timeouts = enforce_timeouts
        self.poll_wait_s = poll_wait_s

        self.model: TemplateModel | None = None
        self.invoker: Invoker | None = None
        self.aws: LocalAws | None = None
        self.api: ApiGatewayFront | None = None
        self.pollers: PollerGroup | None = None
        self.scheduler: Scheduler | None = None
        self._simulator_servers: dict[str, WsgiServer] = {}
        self._saved_env: dict[str, str | None] = {}
        self._started = False

    # lifecycle ------------------------------------------------------------------
    def start(self) -> LocalHub:
        if self._started:
            return self
        # Validate before opening any port: a broken template fails fast.
        model = load_template(self.template_path, self.parameter_overrides, stack_name=self.stack_name)
        model.shared_environment()
        if not (self.repo_root / "functions").is_dir() and model.functions:
            raise LocalRuntimeError(f"repo_root {self.repo_root} has no functions/ folder")
        self._started = True
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_all(self) -> None:
        t0 = time.perf_counter()
        self.aws = LocalAws(self.host, self.aws_port, console=self.console)
        endpoint = self.aws.start()
        self.model = load_template(
            self.template_path, self.parameter_overrides, stack_name=self.stack_name, sqs_endpoint=endpoint
        )
        self.aws.create_resources(self.model)
        self._apply_function_environment(self.model.shared_environment())

        self.invoker = Invoker(self.model, self.repo_root, console=self.console, enforce_timeouts=self.enforce_timeouts)
        self.invoker.install_paths()
        if self.preload_handlers:
            for logical_id in self.model.functions:
                self.invoker.load(logical_id)

        for name, (factory, port) in self.simulator_specs.items():
            server = WsgiServer(factory(), self.host, port, name=f"simulator {name}")
            self._simulator_servers[name] = server
            server.start()

        self.api = ApiGatewayFront(
            self.model,
            self.invoker,
            host=self.host,
            port=self.api_port,
            throttle=self.api_throttle,
            api_keys=self.api_keys,
            console=self.console,
            controls=self._control,
        )
        self.api.start()

        self.pollers = PollerGroup(
            self.model, self.invoker, endpoint=endpoint, console=self.console, wait_time_s=self.poll_wait_s
        )
        if self.run_pollers:
            # Warm the SQS workers (one environment per concurrent poller; see Invoker.prewarm).
            warm: dict[str, int] = {}
            for fn, event in self.model.sqs_sources():
                if event.enabled:
                    warm[fn.logical_id] = warm.get(fn.logical_id, 0) + event.max_concurrency
            for logical_id, environments in warm.items():
                self.invoker.prewarm(logical_id, environments)
            self.pollers.start()

        self.scheduler = Scheduler(self.model, self.invoker, console=self.console)
        if self.run_schedules:
            self.scheduler.start()
        self.console(f"local hub up in {time.perf_counter() - t0:.1f} s: API {self.api.url}, AWS {endpoint}")

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        errors: list[str] = []

        def attempt(label: str, action: Callable[[], Any]) -> None:
            try:
                action()
            except Exception as exc:  # keep stopping the rest
                errors.append(f"{label}: {exc}")

        if self.scheduler is not None:
            attempt("schedules", lambda: self.scheduler.stop(timeout=2.0))  # type: ignore[union-attr]
        if self.pollers is not None:
            pollers = self.pollers

            def stop_pollers() -> None:
                if not pollers.stop(timeout=3.0):
                    self.console("some SQS pollers are still inside a handler; leaving them behind")

            attempt("pollers", stop_pollers)
        if self.api is not None:
            attempt("API front", self.api.stop)
        for name, server in reversed(list(self._simulator_servers.items())):
            attempt(f"simulator {name}", server.stop)
        self._simulator_servers.clear()
        if self.invoker is not None:
            attempt("handlers", self.invoker.uninstall)
        self._restore_function_environment()
        if self.aws is not None:
            attempt("moto", self.aws.stop)
        self.scheduler = self.pollers = self.api = None
        self.aws = None
        if errors:
            self.console("stop: " + "; ".join(errors))

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # environment -----------------------------------------------------------------
    def _apply_function_environment(self, env: Mapping[str, str]) -> None:
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_function_environment(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # properties --------------------------------------------------------------------
    def _require(self, part: Any, what: str) -> Any:
        if part is None:
            raise RuntimeError(f"LocalHub is not started ({what} unavailable)")
        return part

    @property
    def api_url(self) -> str:
        return self._require(self.api, "api_url").url

    @property
    def aws_endpoint(self) -> str:
        return self._require(self.aws, "aws_endpoint").endpoint

    @property
    def simulators(self) -> dict[str, str]:
        return {name: server.url for name, server in self._simulator_servers.items()}

    @property
    def queue_urls(self) -> dict[str, str]:
        return dict(self._require(self.aws, "queue_urls").queue_urls)

    @property
    def table_names(self) -> dict[str, str]:
        return dict(self._require(self.aws, "table_names").table_names)

    # operations ------------------------------------------------------------------
    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Invoke a handler directly (like ``lambda invoke``); raises InvocationError on failure."""
        invoker = self._require(self.invoker, "invoke")
        result = invoker.invoke(function_logical_id, event, "direct invoke")
        if result.error is not None:
            if isinstance(result.error, HandlerImportError):
                raise result.error
            raise InvocationError(result) from result.error
        return result.result

    def run_schedule(self, name: str) -> InvocationResult:
        """Fire a schedule now (by schedule name, event name or function logical id)."""
        return self._require(self.scheduler, "run_schedule").run(name)

    def activity(self) -> dict[str, Any]:
        """Handlers running now and the depth (visible + in flight + delayed) of every queue."""
        aws = self._require(self.aws, "activity")
        invoker = self._require(self.invoker, "activity")
        depths: dict[str, int | None] = {}
        for logical_id, url in aws.queue_urls.items():
            try:
                depths[logical_id] = aws.queue_depth(url)
            except Exception:  # moto stopping
                depths[logical_id] = None
        return {
            "in_flight": invoker.in_flight,
            "invocations": invoker.invocations,
            "failures": invoker.failures,
            "queues": depths,
            "deliveries_pending": self.deliveries_pending(),
        }

    def deliveries_pending(self) -> int:
        """Webhooks the simulators queued and have not delivered yet: the hub's next work."""
        return sum(pending_deliveries(server.app) for server in self._simulator_servers.values())

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """True once every polled source queue is empty (in flight included), no handler runs
        and no simulator still holds a webhook for the hub (the ERP notifies from a thread).

        Only queues whose poller is running count (with ``run_pollers=False`` nothing drains them).
        """
        aws = self._require(self.aws, "wait_idle")
        invoker = self._require(self.invoker, "wait_idle")
        pollers = self.pollers
        deadline = time.monotonic() + timeout_s
        calm = 0
        while True:
            idle = invoker.in_flight == 0 and (pollers is None or pollers.busy == 0) and self.deliveries_pending() == 0
            urls = [aws.queue_urls[q] for q in pollers.running_queue_logical_ids] if pollers else []
            if idle:
                try:
                    idle = all(aws.queue_depth(url) == 0 for url in urls)
                except Exception:  # moto stopping
                    idle = False
            calm = calm + 1 if idle else 0
            if calm >= 2:
                return True
            if time.monotonic() >= deadline and calm == 0:
                return False
            time.sleep(0.05)

    # /_local controls ------------------------------------------------------------------
    def _control(self, request: Request, parts: list[str]) -> Response | None:
        def reply(body: Any, status: int = 200) -> Response:
            return Response(json.dumps(body, default=str), status=status, content_type="application/json")

        if parts == ["idle"] and request.method == "GET":
            try:
                wait_s = min(60.0, max(0.0, float(request.args.get("wait", "0"))))
            except ValueError:
                return reply({"message": "wait must be a number of seconds"}, 400)
            return reply({"idle": self.wait_idle(wait_s), **self.activity()})
        if not parts or parts[0] != "schedules" or self.scheduler is None:
            return reply({"message": "unknown local control"}, 404)
        if len(parts) == 1 and request.method == "GET":
            return reply({"schedules": self.scheduler.describe()})
        if len(parts) == 2 and request.method == "POST":
            try:
                result = self.scheduler.run(parts[1])
            except UnknownScheduleError as exc:
                return reply({"message": str(exc)}, 404)
            body = {
                "schedule": parts[1],
                "function": result.function,
                "request_id": result.request_id,
                "duration_ms": round(result.duration_ms, 1),
                "outcome": "ok" if result.ok else "error",
            }
            if result.ok:
                try:
                    json.dumps(result.result)
                    body["result"] = result.result
                except (TypeError, ValueError):
                    body["result"] = repr(result.result)
            else:
                body["error"] = f"{result.error_type}: {result.error}"
            return reply(body, 200 if result.ok else 500)
        return reply({"message": "use GET /_local/schedules or POST /_local/schedules/<name>"}, 405)
