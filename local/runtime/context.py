"""Lambda invocation context and the in-process invoker shared by every trigger.

Handlers are imported lazily as ``functions.<folder>.app`` (from the function's CodeUri
under ``repo_root``) and called with an event and a :class:`LambdaContext`, like the
Lambda Python runtime does. The invoker counts invocations in flight (``wait_idle``),
prints one line per failure with the traceback and the function name (like CloudWatch),
and never lets a handler exception escape to the caller.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .template import Function, LocalRuntimeError, TemplateModel

Console = Callable[[str], None]
_IMPORT_LOCK = threading.RLock()


class HandlerImportError(LocalRuntimeError):
    """A handler module could not be imported (or has no such handler attribute)."""


class UnknownFunctionError(LocalRuntimeError, KeyError):
    """No function with that logical id in the template."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class LambdaTimeoutError(LocalRuntimeError):
    """The handler ran longer than the function's Timeout (Lambda would have killed it)."""


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_s: float
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self._deadline:
            self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @classmethod
    def for_function(cls, fn: Function, region: str, account_id: str, request_id: str | None = None) -> LambdaContext:
        day = time.strftime("%Y/%m/%d", time.gmtime())
        return cls(
            function_name=fn.function_name,
            function_version="$LATEST",
            invoked_function_arn=f"arn:aws:lambda:{region}:{account_id}:function:{fn.function_name}",
            memory_limit_in_mb=fn.memory_size,
            aws_request_id=request_id or str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{fn.function_name}",
            log_stream_name=f"{day}/[$LATEST]{uuid.uuid4().hex}",
            timeout_s=float(fn.timeout),
        )


@dataclass
class InvocationResult:
    function: str  # logical id
    trigger: str
    request_id: str
    duration_ms: float
    result: Any = None
    error: BaseException | None = None
    init_ms: float | None = None  # set when this invocation imported the handler (a cold start)

    @property
    def timing(self) -> str:
        """``12 ms`` or ``12 ms, init 480 ms`` for console lines."""
        text = f"{self.duration_ms:.0f} ms"
        return text if self.init_ms is None else f"{text}, init {self.init_ms:.0f} ms"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else type(self.error).__name__


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


class Invoker:
    """Imports handlers lazily and invokes them in the calling thread."""

    def __init__(
        self, model: TemplateModel, repo_root: str | Path, *, console: Console = print, enforce_timeouts: bool = True
    ) -> None:
        self.model = model
        self.repo_root = Path(repo_root).resolve()
        self.console = console
        self.enforce_timeouts = enforce_timeouts
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._locks: dict[str, threading.Lock] = {fid: threading.Lock() for fid in model.functions}
        # Execution environments: like Lambda, one invocation at a time per environment;
        # a concurrent invocation gets a free environment or a new one (a cold start that
        # imports its own copy of the handler module, so module state is never shared by
        # two invocations at once: Powertools' resolver, the worker's per-batch state).
        self._free: dict[str, list[Callable[[Any, Any], Any]]] = {fid: [] for fid in model.functions}
        self._environments: dict[str, int] = dict.fromkeys(model.functions, 0)
        self._imported: list[str] = []
        self._added_paths: list[str] = []
        self._extended_paths: list[tuple[ModuleType, str]] = []
        self._in_flight = 0
        self._cond = threading.Condition()
        self.invocations = 0
        self.failures = 0

    # paths -----------------------------------------------------------------
    def install_paths(self) -> None:
        """Put ``repo_root`` and the template's layer folders on ``sys.path``.

        In Lambda, layer content is on the path (``/opt/python``); locally the layer's
        ContentUri folder plays that role (e.g. ``shared/`` holds the ``crmhub`` package).
        """
        wanted = [str(self.repo_root)]
        for layer in self.model.layers.values():
            folder = (self.repo_root / layer.content_uri).resolve()
            for candidate in (folder / "python", folder):
                if candidate.is_dir():
                    wanted.append(str(candidate))
                    break
        for i, entry in enumerate(dict.fromkeys(wanted)):
            if entry not in sys.path:
                sys.path.insert(i, entry)
                self._added_paths.append(entry)

    def uninstall(self) -> None:
        """Undo :meth:`install_paths` and forget the handler modules imported by this invoker."""
        for entry in self._added_paths:
            while entry in sys.path:
                sys.path.remove(entry)
        self._added_paths.clear()
        for name in reversed(self._imported):
            sys.modules.pop(name, None)
        self._imported.clear()
        for pkg, entry in self._extended_paths:
            search = pkg.__path__
            inner = search if isinstance(search, list) else getattr(search, "_path", [])
            if entry in inner:
                inner.remove(entry)
        self._extended_paths.clear()
        self._handlers.clear()
        for free in self._free.values():
            free.clear()
        self._environments = dict.fromkeys(self._environments, 0)

    # handlers --------------------------------------------------------------
    def function(self, logical_id: str) -> Function:
        try:
            return self.model.functions[logical_id]
        except KeyError:
            known = ", ".join(sorted(self.model.functions)) or "none"
            raise UnknownFunctionError(f"no function {logical_id!r} in the template (known: {known})") from None

    def load(self, logical_id: str) -> Callable[[Any, Any], Any]:
        """Import the handler of ``logical_id`` (once) and return the callable."""
        handler = self._handlers.get(logical_id)
        if handler is not None:
            return handler
        fn = self.function(logical_id)
        with self._locks[logical_id]:
            handler = self._handlers.get(logical_id)
            if handler is not None:
                return handler
            handler = self._import(fn)
            self._handlers[logical_id] = handler
            return handler

    def environments(self, logical_id: str) -> int:
        """How many execution environments the function has (its peak concurrency so far)."""
        with self._cond:
            return self._environments.get(logical_id, 0)

    def _checkout(self, logical_id: str) -> tuple[Callable[[Any, Any], Any], bool]:
        """A free environment's handler, or a new environment's (cold) one."""
        with self._cond:
            free = self._free[logical_id]
            if free:
                return free.pop(), False
        return self._new_environment(logical_id)

    def _new_environment(self, logical_id: str) -> tuple[Callable[[Any, Any], Any], bool]:
        with self._cond:
            number = self._environments[logical_id]
            self._environments[logical_id] = number + 1
        try:
            if number == 0:
                cold = logical_id not in self._handlers
                return self.load(logical_id), cold
            return self._import(self.function(logical_id), environment=number), True
        except BaseException:
            with self._cond:
                self._environments[logical_id] -= 1
            raise

    def prewarm(self, logical_id: str, environments: int) -> None:
        """Create execution environments until the function has ``environments`` of them.

        Lambda starts each environment in its own process; here they share one interpreter,
        and a cold start (imports, clients) holds up every other thread for a few hundred ms,
        enough to make a worker miss its rate-limit slot. So the SQS workers start warm."""
        created: list[Callable[[Any, Any], Any]] = []
        try:
            while self.environments(logical_id) < environments:
                created.append(self._new_environment(logical_id)[0])
        finally:
            with self._cond:
                self._free[logical_id].extend(created)

    def _checkin(self, logical_id: str, handler: Callable[[Any, Any], Any]) -> None:
        with self._cond:
            self._free[logical_id].append(handler)

    def _import(self, fn: Function, environment: int = 0) -> Callable[[Any, Any], Any]:
        missing = {k: v for k, v in fn.environment.items() if os.environ.get(k) != v}
        if missing:
            raise HandlerImportError(
                f"{fn.logical_id}: the process environment lacks the function's variables "
                f"({', '.join(sorted(missing))}); start it through LocalHub"
            )
        module_name = fn.module_name
        parts = module_name.split(".")
        module_file = self.repo_root.joinpath(*parts[:-1], parts[-1] + ".py")
        if not all(part.isidentifier() for part in parts):
            raise HandlerImportError(
                f"{fn.logical_id}: {module_name!r} is not an importable module name "
                "(CodeUri folders must be valid Python identifiers)"
            )
        if not module_file.is_file():
            raise HandlerImportError(
                f"{fn.logical_id}: handler file {module_file} does not exist "
                f"(CodeUri {fn.code_uri!r}, Handler {fn.handler!r})"
            )
        if environment:
            parts = [*parts[:-1], f"{parts[-1]}__env{environment}"]
        try:
            module = self._load_module(parts, module_file)
        except HandlerImportError:
            raise
        except Exception as exc:  # reported as one clear line
            detail = _first_line(f"{type(exc).__name__}: {exc}")
            raise HandlerImportError(f"{fn.logical_id}: importing {module_name} failed: {detail}") from exc
        handler = getattr(module, fn.handler_attribute, None)
        if not callable(handler):
            raise HandlerImportError(f"{fn.logical_id}: {module_name} has no callable {fn.handler_attribute!r}")
        return handler

    def _load_module(self, parts: list[str], module_file: Path) -> ModuleType:
        """Import ``functions.<folder>.app`` from exactly ``module_file``.

        Loading by location (not by ``sys.path`` order) keeps a test's fixture functions
        from colliding with the project's own ``functions`` package: an existing parent
        package just gets the folder appended to its ``__path__`` (undone on uninstall).
        """
        with _IMPORT_LOCK:
            name = ".".join(parts)
            existing = sys.modules.get(name)
            if existing is not None:
                loaded_from = Path(getattr(existing, "__file__", "") or "").resolve()
                if loaded_from == module_file.resolve():
                    return existing
                raise HandlerImportError(f"{name} is already imported from {loaded_from}, not {module_file}")
            parent: ModuleType | None = None
            for depth in range(1, len(parts)):
                pkg_name = ".".join(parts[:depth])
                pkg_dir = self.repo_root.joinpath(*parts[:depth])
                pkg = sys.modules.get(pkg_name)
                if pkg is None:
                    init = pkg_dir / "__init__.py"
                    if init.is_file():
                        spec = importlib.util.spec_from_file_location(
                            pkg_name, init, submodule_search_locations=[str(pkg_dir)]
                        )
                        assert spec is not None and spec.loader is not None
                        pkg = importlib.util.module_from_spec(spec)
                        sys.modules[pkg_name] = pkg
                        try:
                            spec.loader.exec_module(pkg)
                        except BaseException:
                            sys.modules.pop(pkg_name, None)
                            raise
                        self._imported.append(pkg_name)
                    else:
                        pkg = ModuleType(pkg_name)
                        pkg.__path__ = [str(pkg_dir)]
                        sys.modules[pkg_name] = pkg
                        self._imported.append(pkg_name)
                else:
                    search = getattr(pkg, "__path__", None)
                    if search is None:
                        raise HandlerImportError(f"{pkg_name} is already imported and is not a package")
                    if str(pkg_dir) not in [str(Path(p).resolve()) for p in search]:
                        search.append(str(pkg_dir))
                        self._extended_paths.append((pkg, str(pkg_dir)))
                if parent is not None:
                    setattr(parent, parts[depth - 1], pkg)
                parent = pkg
            spec = importlib.util.spec_from_file_location(name, module_file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            self._imported.append(name)
            if parent is not None:
                setattr(parent, parts[-1], module)
            return module

    # invocation --------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def wait_idle(self, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout_s)

    def invoke(self, logical_id: str, event: Any, trigger: str) -> InvocationResult:
        """Run the handler; exceptions (import errors included) land in ``result.error``."""
        fn = self.function(logical_id)
        request_id = str(uuid.uuid4())
        with self._cond:
            self._in_flight += 1
        started = time.perf_counter()
        outcome = InvocationResult(function=logical_id, trigger=trigger, request_id=request_id, duration_ms=0.0)
        handler: Callable[[Any, Any], Any] | None = None
        try:
            handler, cold = self._checkout(logical_id)
            if cold:
                outcome.init_ms = (time.perf_counter() - started) * 1000
            context = LambdaContext.for_function(fn, self.model.region, self.model.account_id, request_id)
            started = time.perf_counter()
            outcome.result = handler(event, context)
            elapsed = time.perf_counter() - started
            if self.enforce_timeouts and elapsed > fn.timeout:
                outcome.result = None
                raise LambdaTimeoutError(
                    f"Task timed out after {fn.timeout:.2f} seconds "
                    f"(ran {elapsed:.2f} s; the result is discarded like Lambda would)"
                )
        except HandlerImportError as exc:
            outcome.error = exc
            self.console(f"[{logical_id}] Runtime.ImportModuleError: {exc}")
        except LambdaTimeoutError as exc:
            outcome.error = exc
            self.console(f"[{logical_id}] {exc}")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the handler crashed (sys.exit included); Lambda reports it
            outcome.error = exc
            frames = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # skip invoke()
            tb = "".join(traceback.format_exception(type(exc), exc, frames or exc.__traceback__))
            self.console(
                f"[{logical_id}] {trigger}: unhandled {type(exc).__name__} (request {request_id})\n{tb.rstrip()}"
            )
        finally:
            if handler is not None:
                self._checkin(logical_id, handler)
            outcome.duration_ms = (time.perf_counter() - started) * 1000
            with self._cond:
                self._in_flight -= 1
                self.invocations += 1
                if outcome.error is not None:
                    self.failures += 1
                self._cond.notify_all()
        return outcome
