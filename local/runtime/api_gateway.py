"""An HTTP front that behaves like API Gateway (REST, v1, Lambda proxy integration).

Each request becomes a proxy event for the handler the template routes it to. What it
reproduces: route selection (static segment > ``{param}`` > ``{proxy+}``), 403
``Missing Authentication Token`` for unknown paths and undefined methods, ``ApiKeyRequired``
(403 with the template's ``INVALID_API_KEY`` gateway response), the usage plan's
per-key throttle (token bucket, 429 with ``THROTTLED``), 502 ``Internal server error``
for a crashed handler or a malformed proxy response, and base64 bodies for binary data.

Paths are served without the stage prefix (like ``sam local start-api``); the stage is
in ``requestContext.stage``. ``/_local/*`` is reserved for the local runtime's controls.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .aws import bind_socket
from .context import InvocationResult, Invoker
from .template import Api, ApiEvent, GatewayResponse, TemplateModel, Throttle

Console = Callable[[str], None]
ControlHandler = Callable[[Request, list[str]], Response | None]

_DEFAULT_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "INTERNAL": (502, "Internal server error", None),
}
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/graphql",
    "+json",
    "+xml",
)


# --------------------------------------------------------------------------- server


class _QuietHandler(WSGIRequestHandler):
    """No request-line logging (query strings may hold personal data); raw header names kept."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["localruntime.raw_headers"] = list(self.headers.items())
        return environ


class WsgiServer:
    """A threaded werkzeug server on its own daemon thread (port 0 = any free port)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "server") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WsgiServer:
        if self._server is not None:
            return self
        sock = bind_socket(self.host, self.port, self.name)
        try:
            server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
            )
        finally:
            sock.close()
        self._server = server
        self.port = server.port
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    event: ApiEvent
    segments: tuple[str, ...]

    @property
    def path(self) -> str:
        return self.event.path

    @property
    def method(self) -> str:
        return self.event.method


def _split(path: str) -> list[str]:
    return [s for s in path.split("/") if s != ""]


def match_pattern(segments: tuple[str, ...], parts: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match ``parts`` against a route; return (specificity key, path params) or None.

    Lower keys are more specific: a static segment (0) beats ``{param}`` (1), which beats
    a greedy ``{proxy+}`` (2).
    """
    params: dict[str, str] = {}
    key: list[int] = []
    for i, seg in enumerate(segments):
        if seg.startswith("{") and seg.endswith("+}"):
            if i != len(segments) - 1 or len(parts) <= i:
                return None
            params[seg[1:-2]] = "/".join(parts[i:])
            key.append(2)
            return tuple(key), params
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            params[seg[1:-1]] = parts[i]
            key.append(1)
        elif seg == parts[i]:
            key.append(0)
        else:
            return None
    if len(parts) != len(segments):
        return None
    return tuple(key), params


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        self.resources: dict[str, list[Route]] = {}
        for route in self.routes:
            self.resources.setdefault(route.path, []).append(route)

    def match(self, method: str, path: str) -> tuple[str | None, Route | None, dict[str, str]]:
        """Return (resource path, route for the method, path params).

        Like API Gateway, the most specific *resource* is chosen first; if it has no
        method for the request (and no ANY), the route is None.
        """
        parts = _split(path)
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for resource, routes in self.resources.items():
            matched = match_pattern(routes[0].segments, parts)
            if matched is None:
                continue
            key, params = matched
            if best is None or key < best[0]:
                best = (key, resource, params)
        if best is None:
            return None, None, {}
        _, resource, params = best
        routes = self.resources[resource]
        route = next((r for r in routes if r.method == method), None) or next(
            (r for r in routes if r.method == "ANY"), None
        )
        return resource, route, params


# --------------------------------------------------------------------------- throttle


class TokenBucket:
    """API Gateway's throttle: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = max(0, int(burst))
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


# --------------------------------------------------------------------------- front


def _is_text(content_type: str) -> bool:
    ct = content_type.split(";")[0].strip().lower()
    return not ct or any(marker in ct if marker.startswith("+") else ct.startswith(marker) for marker in _TEXT_TYPES)


class ApiGatewayFront:
    """Serves one API (the template's only one by default) on ``host:port``."""

    def __init__(
        self,
        model: TemplateModel,
        invoker: Invoker,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        api_logical_id: str | None = None,
        throttle: Throttle | bool | None = True,
        api_keys: Iterable[str] | None = None,
        console: Console = print,
        controls: ControlHandler | None = None,
    ) -> None:
        self.model = model
        self.invoker = invoker
        self.console = console
        self.controls = controls
        if api_logical_id is None:
            used = sorted({ev.rest_api_id for _, ev in model.api_routes()}) or sorted(model.apis)
            if len(used) > 1:
                raise ValueError(f"the template has several APIs ({', '.join(used)}); pass api_logical_id")
            api_logical_id = used[0] if used else None
        self.api: Api | None = model.apis.get(api_logical_id) if api_logical_id else None
        self.stage = self.api.stage_name if self.api else "local"
        if throttle is True:
            self.throttle = self.api.throttle if self.api else None
        elif throttle is False:
            self.throttle = None
        else:
            self.throttle = throttle
        self.api_keys = None if api_keys is None else set(api_keys)
        self.router = Router(
            Route(fn.logical_id, ev, tuple(_split(ev.path)))
            for fn, ev in model.api_routes()
            if self.api is None or ev.rest_api_id == self.api.logical_id
        )
        self._buckets: dict[str, TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        self._server = WsgiServer(self.wsgi, host, port, name="API front")

    # lifecycle --------------------------------------------------------------
    def start(self) -> ApiGatewayFront:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    # gateway responses ------------------------------------------------------------
    def gateway_response(self, rtype: str, request_id: str, message: str | None = None) -> Response:
        status, default_message, error_type = _DEFAULT_RESPONSES[rtype]
        message = message or default_message
        configured: dict[str, GatewayResponse] = self.api.gateway_responses if self.api else {}
        family = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        spec = configured.get(rtype) or configured.get(family)
        body = json.dumps({"message": message})
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        if error_type:
            headers["x-amzn-ErrorType"] = error_type
        if spec is not None:
            if spec.status_code is not None:
                status = spec.status_code
            if spec.body is not None:
                body = (
                    spec.body.replace("$context.error.messageString", json.dumps(message))
                    .replace("$context.error.message", message)
                    .replace("$context.requestId", request_id)
                )
            headers.update(spec.headers)
        return Response(body, status=status, headers=headers)

    def _bucket(self, api_key: str) -> TokenBucket | None:
        if self.throttle is None:
            return None
        with self._buckets_lock:
            bucket = self._buckets.get(api_key)
            if bucket is None:
                bucket = self._buckets[api_key] = TokenBucket(self.throttle.rate_limit, self.throttle.burst_limit)
            return bucket

    # WSGI ---------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self.handle(request)
        except Exception:  # a bug in the local runtime, not in a handler
            import traceback

            self.console(
                f"local runtime error while serving {request.method} {request.path}\n{traceback.format_exc().rstrip()}"
            )
            response = Response(
                json.dumps({"message": "local runtime error"}), status=500, content_type="application/json"
            )
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        path = request.path
        if path.startswith("/_local/") and self.controls is not None:
            control = self.controls(request, _split(path)[1:])
            if control is not None:
                return control
        method = request.method.upper()
        _resource, route, params = self.router.match(method, path)
        if route is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        api_key = request.headers.get("x-api-key")
        if route.event.api_key_required:
            if not api_key or (self.api_keys is not None and api_key not in self.api_keys):
                return self.gateway_response("INVALID_API_KEY", request_id)
            bucket = self._bucket(api_key)
            if bucket is not None and not bucket.take():
                return self.gateway_response("THROTTLED", request_id)
        event = self.build_event(request, route, params, request_id, api_key if route.event.api_key_required else None)
        trigger = f"api {method} {route.path}"
        result = self.invoker.invoke(route.function, event, trigger)
        response = self.to_response(result, request_id)
        self.console(f"{route.function:<24} {trigger}  -> {response.status_code} ({result.timing})")
        return response

    def build_event(
        self, request: Request, route: Route, params: dict[str, str], request_id: str, api_key: str | None
    ) -> dict[str, Any]:
        raw_headers: list[tuple[str, str]] = request.environ.get("localruntime.raw_headers") or list(
            request.headers.items()
        )
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in raw_headers:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, values in request.args.lists():
            multi_query[name] = list(values)
            query[name] = values[-1]
        data = request.get_data(cache=False)
        body: str | None = None
        is_b64 = False
        if data:
            content_type = request.headers.get("Content-Type", "")
            if _is_text(content_type):
                try:
                    body = data.decode("utf-8")
                except UnicodeDecodeError:
                    body, is_b64 = base64.b64encode(data).decode("ascii"), True
            else:
                body, is_b64 = base64.b64encode(data).decode("ascii"), True
        now = datetime.now(UTC)
        method = request.method.upper()
        api_id = self.api.logical_id.lower()[:10] if self.api else "local"
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.model.account_id,
                "apiId": api_id,
                "resourceId": format(abs(hash(route.path)) % 0xFFFFFF, "06x"),
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestId": request_id,
                "path": request.path,
                "stage": self.stage,
                "domainName": request.host,
                "domainPrefix": request.host.split(".")[0].split(":")[0],
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "identity": {
                    "sourceIp": request.remote_addr or "127.0.0.1",
                    "userAgent": request.headers.get("User-Agent"),
                    "apiKey": api_key,
                    "apiKeyId": f"local-{abs(hash(api_key)) % 10**8:08d}" if api_key else None,
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "cognitoAuthenticationProvider": None,
                    "cognitoAuthenticationType": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "principalOrgId": None,
                    "user": None,
                    "userArn": None,
                },
                "authorizer": None,
            },
            "body": body,
            "isBase64Encoded": is_b64,
        }

    def to_response(self, result: InvocationResult, request_id: str) -> Response:
        if result.error is not None:
            return self.gateway_response("INTERNAL", request_id)
        out = result.result
        problem = None
        status = None
        if not isinstance(out, dict):
            problem = f"the handler returned {type(out).__name__}, not a dict"
        else:
            try:
                status = int(out["statusCode"])
            except (KeyError, TypeError, ValueError):
                problem = "statusCode is missing or not a number"
            if not problem and out.get("body") is not None and not isinstance(out.get("body"), str):
                problem = f"body must be a string, got {type(out.get('body')).__name__}"
            if not problem and not isinstance(out.get("headers") or {}, dict):
                problem = "headers must be a mapping"
            if not problem and not isinstance(out.get("multiValueHeaders") or {}, dict):
                problem = "multiValueHeaders must be a mapping"
        if problem or status is None:
            self.console(
                f"[{result.function}] Execution failed due to configuration error: "
                f"Malformed Lambda proxy response ({problem})"
            )
            return self.gateway_response("INTERNAL", request_id)
        headers = Headers()
        for name, values in (out.get("multiValueHeaders") or {}).items():
            for value in values if isinstance(values, list) else [values]:
                headers.add(name, str(value))
        for name, value in (out.get("headers") or {}).items():
            headers.set(name, str(value))
        headers.setdefault("Content-Type", "application/json")
        headers.set("x-amzn-RequestId", request_id)
        body = out.get("body") or ""
        if out.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body)
            except ValueError:
                self.console(f"[{result.function}] Malformed Lambda proxy response (body is not base64)")
                return self.gateway_response("INTERNAL", request_id)
        else:
            data = body.encode("utf-8")
        return Response(data, status=status, headers=headers)
