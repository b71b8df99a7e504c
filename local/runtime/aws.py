"""moto in server mode on 127.0.0.1, with the template's queues and tables created in it.

What moto 5.2.5 does for SQS FIFO (checked in tests/unit/runtime/test_aws.py):

* group ordering within a receive and across receives: yes;
* a message group is blocked while one of its messages is in flight: yes;
* redrive to the DLQ once a message was received ``maxReceiveCount`` times: yes (the move
  happens on the next receive after the visibility timeout);
* ChangeMessageVisibility (incl. 0 to release at once): yes.

Also patched: DynamoDB writes are serialised (moto's conditional writes are not atomic
across threads; AWS's are), and two per-message scans of the whole queue in moto's SQS
send/receive (quadratic in a backlog of thousands) read the one attribute they need.

Two moto defects matter for a poller and are patched here, in-process, while a
:class:`LocalAws` runs (the patch is removed when the last one stops):

* ordering after a visibility timeout: moto forgets in-flight messages lazily, one by one
  while scanning, so when a *batch* of one group times out it can deliver the group's last
  message before its first ones. The patch releases every expired in-flight message
  before a receive, which restores FIFO order;
* concurrent receives are not atomic: two pollers can both see a group as free. The patch
  serialises receives per queue (long polling waits outside the lock).

Also different from AWS, and left as is: deduplication ignores ``DeduplicationScope``
(it is queue-wide, so one dedup id used in two groups within 5 minutes keeps only the
first message; this module patches that for ``messageGroup`` scope), and a message is
no longer deduplicated once it was deleted (AWS remembers the id for 5 minutes, so a
resend after a delete is delivered again locally). Schedules never fire, TTL never
deletes and ``StartMessageMoveTask`` is not implemented.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from .template import DEFAULT_REGION, LocalRuntimeError, TemplateModel

Console = Callable[[str], None]

FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"


class PortInUseError(LocalRuntimeError, OSError):
    """The port is already taken by another program."""

    def __init__(self, port: int, host: str = "127.0.0.1", what: str = "server") -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"{what}: port {port} on {host} is already in use "
            "(pick another with the port option, or 0 for any free port)",
        )
        self.port = port
        self.host = host
        self.what = what

    def __str__(self) -> str:
        return str(self.strerror)


def bind_socket(host: str, port: int, what: str) -> socket.socket:
    """Bind and listen, raising :class:`PortInUseError` instead of werkzeug's ``sys.exit``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUseError(port, host, what) from None
        raise LocalRuntimeError(f"{what}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


# --------------------------------------------------------------------------- moto patches

_patch_lock = threading.Lock()
_patch_users = 0
_originals: dict[str, Any] = {}
_queue_locks: dict[tuple[str, str, str], threading.Lock] = {}
_queue_locks_guard = threading.Lock()
_POLL_SLICE_S = 0.2


def _queue_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _queue_locks_guard:
        lock = _queue_locks.get(key)
        if lock is None:
            lock = _queue_locks[key] = threading.Lock()
        return lock


def _release_expired(queue: Any) -> None:
    """Forget in-flight messages whose visibility timeout is over (moto does it lazily)."""
    pending = queue.pending_messages
    for message in [m for m in pending if m.visible]:
        pending.discard(message)


def _patched_receive(
    self: Any,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> Any:
    original = _originals["receive_message"]
    deadline = time.monotonic() + float(wait_seconds_timeout or 0)
    lock = _queue_lock((self.account_id, self.region_name, queue_name))
    while True:
        queue = self.get_queue(queue_name)
        with lock:
            _release_expired(queue)
            result = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        remaining = deadline - time.monotonic()
        if result or remaining <= 0:
            return result
        with queue._messages_lock:  # woken by add_message; re-check for expired timeouts
            queue._messages_lock.wait(timeout=min(_POLL_SLICE_S, remaining))


def _patched_add_message(self: Any, message: Any) -> None:
    if self.fifo_queue and message.deduplication_id and getattr(self, "deduplication_scope", "queue") == "messageGroup":
        from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS

        for existing in self._messages:
            if (
                existing.deduplication_id == message.deduplication_id
                and existing.group_id == message.group_id
                and (message.sent_timestamp - existing.sent_timestamp) / 1000 < DEDUPLICATION_TIME_IN_SECONDS
            ):
                return
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()
        return
    _originals["add_message"](self, message)


def _patched_retention_check(self: Any, queue_name: str, message: Any) -> bool:
    """moto computes every queue attribute (three scans of all messages) to read one number,
    once per received message: quadratic in the backlog. Read the number."""
    from moto.core.utils import unix_time

    queue = self.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time())


def _patched_validate_message(
    self: Any,
    queue: Any,
    message_body: str,
    delay_seconds: int,
    deduplication_id: str | None = None,
    group_id: str | None = None,
    validate_group_id: bool = True,
) -> None:
    """moto's checks, reading the two attributes they need instead of all of them (per sent
    message, a scan of the whole queue)."""
    from moto.sqs.exceptions import InvalidParameterValue, MissingParameter

    if queue.fifo_queue:
        content_dedup = str(getattr(queue, "content_based_deduplication", "false")).lower() == "true"
        if not content_dedup and not group_id:
            raise MissingParameter("MessageGroupId")
        if not content_dedup and group_id and not deduplication_id:
            raise InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )
        if delay_seconds > 0:
            raise InvalidParameterValue(
                f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: "
                "The request include parameter that is not valid for this queue type."
            )
    if len(message_body) > queue.maximum_message_size:
        raise InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{queue.maximum_message_size} bytes."
        )
    if group_id is None and queue.fifo_queue:
        raise MissingParameter("MessageGroupId")


# DynamoDB's conditional writes are atomic; moto's are not when two threads write the same
# item (both can pass ``version = :v`` and both write: measured 2 duplicate rate-limit
# slots in 20 under 4 threads). Serialising moto's write operations restores it.
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_write_lock = threading.RLock()


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    # Unwrap our own wrapper: a test that monkeypatched the class while the patch was
    # installed can put it back after we removed it; wrapping it again would recurse.
    original = getattr(original, "_crmhub_original", original)

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _dynamodb_write_lock:
            return original(self, *args, **kwargs)

    write.__name__ = original.__name__
    write._crmhub_original = original  # type: ignore[attr-defined]
    return write


def install_moto_patches() -> int:
    """Patch moto's SQS and DynamoDB (see the module docstring and above); returns how many
    users the patch has now."""
    global _patch_users
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import Queue, SQSBackend

    with _patch_lock:
        if _patch_users == 0:
            _originals["receive_message"] = SQSBackend.receive_message
            _originals["add_message"] = Queue.add_message
            SQSBackend.receive_message = _patched_receive  # type: ignore[method-assign]
            Queue.add_message = _patched_add_message  # type: ignore[method-assign]
            _originals["retention"] = SQSBackend.is_message_valid_based_on_retention_period
            _originals["validate"] = SQSBackend._validate_message
            SQSBackend.is_message_valid_based_on_retention_period = _patched_retention_check  # type: ignore[method-assign]
            SQSBackend._validate_message = _patched_validate_message  # type: ignore[method-assign]
            for name in _DYNAMODB_WRITES:
                wrapper = _serialised(getattr(DynamoDBBackend, name))
                _originals[f"dynamodb.{name}"] = wrapper._crmhub_original  # type: ignore[attr-defined]
                setattr(DynamoDBBackend, name, wrapper)
        _patch_users += 1
        return _patch_users


def uninstall_moto_patches() -> None:
    global _patch_users
    from moto.sqs.models import Queue, SQSBackend

    with _patch_lock:
        if _patch_users == 0:
            return
        _patch_users -= 1
        if _patch_users == 0:
            SQSBackend.receive_message = _originals.pop("receive_message")  # type: ignore[method-assign]
            Queue.add_message = _originals.pop("add_message")  # type: ignore[method-assign]
            SQSBackend.is_message_valid_based_on_retention_period = _originals.pop("retention")  # type: ignore[method-assign]
            SQSBackend._validate_message = _originals.pop("validate")  # type: ignore[method-assign]
            from moto.dynamodb.models import DynamoDBBackend

            for name in _DYNAMODB_WRITES:
                setattr(DynamoDBBackend, name, _originals.pop(f"dynamodb.{name}"))


# --------------------------------------------------------------------------- server


def _make_moto_server_class() -> type:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class _QuietMotoHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    class LocalMotoServer(ThreadedMotoServer):
        """moto's ThreadedMotoServer, bound by us so a busy port is an error, not a hang."""

        def __init__(self, ip_address: str, port: int) -> None:
            super().__init__(ip_address=ip_address, port=port, verbose=False)
            self._sock = bind_socket(ip_address, port, "moto (AWS endpoint)")
            self._port = self._sock.getsockname()[1]
            self._error: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                app = DomainDispatcherApplication(create_backend_app)
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=_QuietMotoHandler, fd=self._sock.fileno()
                )
            except BaseException as exc:  # reported by start()
                self._error = exc
                self._server_ready_event.set()
                return
            finally:
                self._sock.close()
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

        def start(self) -> None:
            super().start()
            if self._error is not None:
                raise LocalRuntimeError(f"moto server failed to start: {self._error}")

        def stop(self) -> None:
            server = self._server
            super().stop()
            if server is not None:
                server.server_close()

    return LocalMotoServer


class LocalAws:
    """A moto server plus the process environment that points AWS SDKs at it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        *,
        region: str = DEFAULT_REGION,
        console: Console = print,
        reset_state: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.region = region
        self.console = console
        self.reset_state = reset_state
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.queue_urls: dict[str, str] = {}
        self.table_names: dict[str, str] = {}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalAws is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint
        server = _make_moto_server_class()(self.host, self.port)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        first = install_moto_patches() == 1
        if self.reset_state and first:
            # moto keeps its state in module globals shared by every server in the process:
            # start from a clean slate, unless another LocalAws of this process is running.
            req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        self.apply_environment()
        return self.endpoint

    # environment -------------------------------------------------------------
    def aws_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        }

    def apply_environment(self) -> None:
        """Point boto3/pynamodb/Powertools at moto; remember what to restore on stop."""
        drop = [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]
        drop += [
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        ]
        for key in drop:
            if key in os.environ:
                self._saved_env.setdefault(key, os.environ.pop(key))
        for key, value in self.aws_environment().items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore_environment(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # resources ----------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client for the local endpoint (cached; boto3 clients are thread-safe)."""
        with self._clients_lock:
            cached = self._clients.get(service)
            if cached is None:
                cached = self._clients[service] = self._new_client(service)
            return cached

    def _new_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=30, connect_timeout=5),
        )

    def create_resources(self, model: TemplateModel) -> None:
        """Create every queue (DLQs first) and every table of the template."""
        sqs = self.client("sqs")
        ddb = self.client("dynamodb")
        taken = set(sqs.list_queues().get("QueueUrls", [])) | set(ddb.list_tables().get("TableNames", []))
        for what, logical_id, name, key in (
            *(("queue", q.logical_id, q.name, q.url) for q in model.queues.values()),
            *(("table", t.logical_id, t.name, t.name) for t in model.tables.values()),
        ):
            if key in taken:
                raise LocalRuntimeError(f"{what} {logical_id} ({name}) already exists in moto{self._hint()}")
        created: set[str] = set()

        def create(logical_id: str, chain: tuple[str, ...] = ()) -> None:
            if logical_id in created:
                return
            if logical_id in chain:
                raise LocalRuntimeError(f"queues {' -> '.join((*chain, logical_id))} redrive into each other")
            queue = model.queues[logical_id]
            if queue.redrive is not None:
                dlq = model.queues[queue.redrive.dlq_logical_id]
                if dlq.fifo != queue.fifo:
                    raise LocalRuntimeError(
                        f"{logical_id}: its DLQ {dlq.logical_id} must be "
                        f"{'a FIFO' if queue.fifo else 'a standard'} queue too"
                    )
                create(dlq.logical_id, (*chain, logical_id))
            try:
                url = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)["QueueUrl"]
            except Exception as exc:  # reported as one clear line
                raise LocalRuntimeError(
                    f"creating queue {logical_id} ({queue.name}) failed: {exc}{self._hint()}"
                ) from None
            if url != queue.url:
                raise LocalRuntimeError(f"queue {logical_id}: moto answered {url}, the template resolved {queue.url}")
            self.queue_urls[logical_id] = url
            created.add(logical_id)

        for logical_id in model.queues:
            create(logical_id)

        for logical_id, table in model.tables.items():
            try:
                ddb.create_table(**table.create_kwargs)
                if table.ttl_attribute:
                    ddb.update_time_to_live(
                        TableName=table.name,
                        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                    )
            except Exception as exc:  # reported as one clear line
                raise LocalRuntimeError(
                    f"creating table {logical_id} ({table.name}) failed: {exc}{self._hint()}"
                ) from None
            self.table_names[logical_id] = table.name

    @staticmethod
    def _hint() -> str:
        if _patch_users > 1:
            return (
                " (another LocalHub/LocalAws runs in this process and shares moto's state; "
                "give this one another stack name or Stage)"
            )
        return ""

    def delete_resources(self) -> None:
        """Delete what :meth:`create_resources` made (best effort), so the next start is clean."""
        sqs, ddb = self.client("sqs"), self.client("dynamodb")
        for url in self.queue_urls.values():
            try:
                sqs.delete_queue(QueueUrl=url)
            except Exception:  # best effort
                pass
        for name in self.table_names.values():
            try:
                ddb.delete_table(TableName=name)
            except Exception:  # best effort
                pass
        self.queue_urls.clear()
        self.table_names.clear()

    def queue_depth(self, url: str) -> int:
        """Visible + in flight + delayed messages of a queue."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def stop(self) -> None:
        """Delete the resources this instance created, stop moto, restore the environment."""
        if self._server is None:
            return
        try:
            self.delete_resources()
        finally:
            self._clients.clear()
            server, self._server = self._server, None
        try:
            server.stop()
        finally:
            uninstall_moto_patches()
            self.restore_environment()


def redrive_policy(attributes: dict[str, str]) -> dict[str, Any] | None:
    """Parse a queue's RedrivePolicy attribute (helper for tests and tools)."""
    raw = attributes.get("RedrivePolicy")
    return json.loads(raw) if raw else None
