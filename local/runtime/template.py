"""Read ``template.yaml`` and resolve the intrinsics the local runtime needs.

The template is the single source of truth: routes, queues, tables, event sources and
schedules all come from here. Only the intrinsics the project uses are supported
(``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::If`` with conditions,
``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``); anything else, or a reference to
something that does not exist, raises :class:`TemplateError` naming the resource and
property, never a bare traceback.

Physical names are deterministic: queues use their (resolved) ``QueueName``; tables,
functions and queues without an explicit name get ``<stack>-<LogicalId>``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_STACK_NAME = "crmhub-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


class LocalRuntimeError(Exception):
    """Base class for every error the local runtime reports (one clear line)."""


class TemplateError(LocalRuntimeError):
    """The template is malformed, uses something unsupported, or references nothing."""


# --------------------------------------------------------------------------- YAML


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short tags (``!Ref``, ``!Sub``...)."""


# Dates stay strings ("2010-09-09"), like CloudFormation.
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML file into plain dicts (short tags expanded)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None
    try:
        doc = yaml.load(text, Loader=_CfnLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TemplateError(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise TemplateError(f"{path}: the template must be a mapping at the top level")
    if not isinstance(doc.get("Resources"), dict) or not doc["Resources"]:
        raise TemplateError(f"{path}: the template has no Resources mapping")
    return doc


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ApiEvent:
    name: str
    path: str
    method: str  # upper case; "ANY" matches every method
    api_key_required: bool
    rest_api_id: str  # logical id of the AWS::Serverless::Api


@dataclass(frozen=True)
class SqsEvent:
    name: str
    queue_logical_id: str
    batch_size: int
    max_concurrency: int
    function_response_types: tuple[str, ...]
    enabled: bool = True

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class ScheduleEvent:
    name: str  # the event's key under Events
    schedule_name: str  # EventBridge schedule/rule name
    expression: str
    timezone: str  # IANA zone, "UTC" by default
    type: str  # "Schedule" (EventBridge rule) or "ScheduleV2" (EventBridge Scheduler)
    enabled: bool = True
    input: str | None = None
    group_name: str = "default"
    description: str | None = None


@dataclass(frozen=True)
class Function:
    logical_id: str
    function_name: str
    code_uri: str
    handler: str
    runtime: str | None
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layers: tuple[str, ...]  # logical ids of template layers
    api_events: tuple[ApiEvent, ...] = ()
    sqs_events: tuple[SqsEvent, ...] = ()
    schedule_events: tuple[ScheduleEvent, ...] = ()

    @property
    def module_name(self) -> str:
        """Dotted module of the handler, e.g. ``functions.api.app``."""
        parts = [p for p in self.code_uri.replace("\\", "/").split("/") if p not in ("", ".")]
        module, _, _ = self.handler.rpartition(".")
        return ".".join([*parts, module])

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Redrive:
    dlq_logical_id: str
    max_receive_count: int


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    fifo: bool
    visibility_timeout: int
    redrive: Redrive | None
    redrive_allow_policy: dict[str, Any] | None
    dedup_scope: str | None
    content_based_dedup: bool
    attributes: dict[str, str]  # CreateQueue attributes (RedrivePolicy included)


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    create_kwargs: dict[str, Any]  # DynamoDB CreateTable arguments
    ttl_attribute: str | None  # when TimeToLiveSpecification is enabled


@dataclass(frozen=True)
class Throttle:
    rate_limit: float  # steady requests per second
    burst_limit: int


@dataclass(frozen=True)
class GatewayResponse:
    status_code: int | None
    body: str | None  # application/json template
    headers: dict[str, str]


@dataclass(frozen=True)
class Api:
    logical_id: str
    name: str
    stage_name: str
    api_key_required: bool
    throttle: Throttle | None
    gateway_responses: dict[str, GatewayResponse]


@dataclass(frozen=True)
class Layer:
    logical_id: str
    content_uri: str


@dataclass
class TemplateModel:
    path: Path
    stack_name: str
    region: str
    account_id: str
    parameters: dict[str, Any]
    functions: dict[str, Function] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    apis: dict[str, Api] = field(default_factory=dict)
    layers: dict[str, Layer] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    sqs_endpoint: str | None = None

    # helpers ---------------------------------------------------------------
    def api_routes(self) -> Iterator[tuple[Function, ApiEvent]]:
        for fn in self.functions.values():
            for event in fn.api_events:
                yield fn, event

    def sqs_sources(self) -> Iterator[tuple[Function, SqsEvent]]:
        for fn in self.functions.values():
            for event in fn.sqs_events:
                yield fn, event

    def schedules(self) -> Iterator[tuple[Function, ScheduleEvent]]:
        for fn in self.functions.values():
            for event in fn.schedule_events:
                yield fn, event

    def queue_by_arn(self, arn: str) -> Queue | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)

    def shared_environment(self) -> dict[str, str]:
        """The environment every function sees (they share one local process).

        Raises :class:`TemplateError` if two functions set one variable differently.
        """
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for fn in self.functions.values():
            for key, value in fn.environment.items():
                if key in merged and merged[key] != value:
                    raise TemplateError(
                        f"environment variable {key} is {merged[key]!r} in {owner[key]} but "
                        f"{value!r} in {fn.logical_id}; the local runtime runs every function in "
                        "one process, so they must agree"
                    )
                merged[key] = value
                owner.setdefault(key, fn.logical_id)
        return merged


# --------------------------------------------------------------------------- resolver

_NO_VALUE = object()
_PSEUDO = (
    "AWS::Region",
    "AWS::AccountId",
    "AWS::Partition",
    "AWS::StackName",
    "AWS::URLSuffix",
    "AWS::StackId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
)
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
_INTRINSICS = (
    "Ref",
    "Condition",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::If",
    "Fn::Select",
    "Fn::Split",
    "Fn::FindInMap",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Base64",
    "Fn::GetAZs",
    "Fn::ImportValue",
    "Fn::Cidr",
    "Fn::Transform",
    "Fn::Length",
    "Fn::ToJsonString",
)


def _scalar_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Resolver:
    def __init__(
        self,
        doc: dict[str, Any],
        params: dict[str, Any],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        sqs_endpoint: str | None,
    ) -> None:
        self.doc = doc
        self.params = params
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.sqs_endpoint = sqs_endpoint.rstrip("/") if sqs_endpoint else None
        self.resources: dict[str, Any] = doc["Resources"]
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # pseudo parameters ------------------------------------------------------
    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::NoValue": _NO_VALUE,
            "AWS::NotificationARNs": [],
        }[name]

    # conditions -------------------------------------------------------------
    def condition(self, name: str, where: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.doc.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"{where}: unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"{where}: condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self.resolve(conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"Conditions.{name}: does not evaluate to true/false")
        self._conditions[name] = value
        return value

    def resource_enabled(self, logical_id: str) -> bool:
        cond = (self.resources.get(logical_id) or {}).get("Condition")
        return True if cond is None else self.condition(cond, f"Resources.{logical_id}.Condition")

    # resources --------------------------------------------------------------
    def _resource(self, logical_id: str, where: str) -> dict[str, Any]:
        res = self.resources.get(logical_id)
        if not isinstance(res, dict):
            raise TemplateError(
                f"{where}: unknown reference {logical_id!r} (not a parameter, pseudo parameter "
                "or resource of the template)"
            )
        return res

    def physical_name(self, logical_id: str, where: str) -> str:
        """The deterministic physical name of a named resource."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise TemplateError(f"{where}: the name of {logical_id} refers to itself")
        res = self._resource(logical_id, where)
        rtype = res.get("Type")
        props = res.get("Properties") or {}
        key = {
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Serverless::LayerVersion": "LayerName",
            "AWS::Serverless::Api": "Name",
        }.get(str(rtype))
        self._naming.add(logical_id)
        try:
            explicit = (
                self.resolve(props[key], f"Resources.{logical_id}.Properties.{key}") if key and key in props else None
            )
        finally:
            self._naming.discard(logical_id)
        if explicit is not None and explicit is not _NO_VALUE:
            name = _scalar_str(explicit)
        else:
            name = f"{self.stack_name}-{logical_id}"
            if rtype == "AWS::SQS::Queue" and props.get("FifoQueue") in (True, "true"):
                name += ".fifo"
        self._names[logical_id] = name
        return name

    def queue_url(self, name: str) -> str:
        if self.sqs_endpoint:
            return f"{self.sqs_endpoint}/{self.account_id}/{name}"
        return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{name}"

    def ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref needs a name, got {name!r}")
        if name in self.params:
            return self.params[name]
        if name.startswith("AWS::"):
            if name not in _PSEUDO:
                raise TemplateError(f"{where}: unknown pseudo parameter {name!r}")
            return self.pseudo(name)
        res = self._resource(name, where)
        rtype = res.get("Type")
        r, a = self.region, self.account_id
        if rtype == "AWS::DynamoDB::Table":
            return self.physical_name(name, where)
        if rtype == "AWS::SQS::Queue":
            return self.queue_url(self.physical_name(name, where))
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return self.physical_name(name, where)
        if rtype == "AWS::Serverless::LayerVersion":
            return f"arn:aws:lambda:{r}:{a}:layer:{self.physical_name(name, where)}:1"
        if rtype == "AWS::Serverless::Api":
            return name.lower()[:10]  # a stable stand-in for the rest api id
        raise TemplateError(f"{where}: Ref to {name} (type {rtype}) is not supported locally")

    def get_att(self, logical_id: Any, attribute: Any, where: str) -> Any:
        if not isinstance(logical_id, str) or not isinstance(attribute, str) or not attribute:
            raise TemplateError(f"{where}: Fn::GetAtt needs [LogicalId, Attribute]")
        res = self._resource(logical_id, where)
        rtype = res.get("Type")
        r, a = self.region, self.account_id
        if rtype == "AWS::SQS::Queue":
            queue_name = self.physical_name(logical_id, where)
            values = {
                "Arn": f"arn:aws:sqs:{r}:{a}:{queue_name}",
                "QueueName": queue_name,
                "QueueUrl": self.queue_url(queue_name),
            }
        elif rtype == "AWS::DynamoDB::Table":
            table = self.physical_name(logical_id, where)
            arn = f"arn:aws:dynamodb:{r}:{a}:table/{table}"
            values = {"Arn": arn, "StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"}
        elif rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            values = {"Arn": f"arn:aws:lambda:{r}:{a}:function:{self.physical_name(logical_id, where)}"}
        else:
            values = {}
        if attribute not in values:
            raise TemplateError(f"{where}: Fn::GetAtt {logical_id}.{attribute} is not supported locally (type {rtype})")
        return values[attribute]

    # intrinsics -------------------------------------------------------------
    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in _INTRINSICS:
                return self._intrinsic(key, arg, where)
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v, f"{where}.{k}")
            if resolved is not _NO_VALUE:
                out[k] = resolved
        return out

    def _intrinsic(self, key: str, arg: Any, where: str) -> Any:
        if key == "Ref":
            return self.ref(arg, where)
        if key == "Condition":
            return self.condition(arg, where)
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            if not isinstance(arg, list) or len(arg) != 2:
                raise TemplateError(f"{where}: Fn::GetAtt needs [LogicalId, Attribute]")
            return self.get_att(self.resolve(arg[0], where), self.resolve(arg[1], where), where)
        if key == "Fn::Sub":
            return self._sub(arg, where)
        if key == "Fn::Join":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{where}: Fn::Join needs [delimiter, [values]]")
            items = self.resolve(arg[1], where)
            if not isinstance(items, list):
                raise TemplateError(f"{where}: Fn::Join needs a list of values")
            return _scalar_str(self.resolve(arg[0], where)).join(_scalar_str(i) for i in items)
        if key == "Fn::If":
            if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
                raise TemplateError(f"{where}: Fn::If needs [condition, value_if_true, value_if_false]")
            chosen = arg[1] if self.condition(arg[0], where) else arg[2]
            return self.resolve(chosen, where)
        if key == "Fn::Equals":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{where}: Fn::Equals needs two values")
            a, b = (self.resolve(v, where) for v in arg)
            return _scalar_str(a) == _scalar_str(b)
        if key in ("Fn::Not", "Fn::And", "Fn::Or"):
            if not isinstance(arg, list) or not arg:
                raise TemplateError(f"{where}: {key} needs a list of conditions")
            values = [self.resolve(v, where) for v in arg]
            if not all(isinstance(v, bool) for v in values):
                raise TemplateError(f"{where}: {key} needs conditions (true/false values)")
            if key == "Fn::Not":
                return not values[0]
            return all(values) if key == "Fn::And" else any(values)
        if key == "Fn::Select":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{where}: Fn::Select needs [index, list]")
            index, items = self.resolve(arg[0], where), self.resolve(arg[1], where)
            try:
                return items[int(index)]
            except (ValueError, TypeError, IndexError):
                raise TemplateError(f"{where}: Fn::Select index {index!r} is out of range") from None
        if key == "Fn::Split":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{where}: Fn::Split needs [delimiter, string]")
            return _scalar_str(self.resolve(arg[1], where)).split(_scalar_str(arg[0]))
        if key == "Fn::FindInMap":
            if not (isinstance(arg, list) and len(arg) in (3, 4)):
                raise TemplateError(f"{where}: Fn::FindInMap needs [map, top key, second key]")
            m, k1, k2 = (_scalar_str(self.resolve(v, where)) for v in arg[:3])
            try:
                return copy.deepcopy(self.doc["Mappings"][m][k1][k2])
            except (KeyError, TypeError):
                raise TemplateError(f"{where}: Fn::FindInMap found nothing at {m}.{k1}.{k2}") from None
        raise TemplateError(f"{where}: {key} is not supported by the local runtime")

    def _sub(self, arg: Any, where: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[0], str) or not isinstance(arg[1], dict):
                raise TemplateError(f"{where}: Fn::Sub needs a string or [string, {{variables}}]")
            template, raw_vars = arg
            variables = {k: self.resolve(v, f"{where}.{k}") for k, v in raw_vars.items()}
        elif isinstance(arg, str):
            template = arg
        else:
            raise TemplateError(f"{where}: Fn::Sub needs a string or [string, {{variables}}]")

        def repl(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _scalar_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _scalar_str(self.get_att(logical_id, attribute, where))
            value = self.ref(name, where)
            if isinstance(value, list):
                raise TemplateError(f"{where}: ${{{name}}} is a list and cannot be substituted")
            return _scalar_str(value)

        return _SUB_VAR.sub(repl, template)


# --------------------------------------------------------------------------- parameters


def _resolve_parameters(doc: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    declared = doc.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise TemplateError("Parameters: must be a mapping")
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"unknown parameter override(s): {', '.join(unknown)} "
            f"(the template declares: {', '.join(sorted(declared)) or 'none'})"
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if not isinstance(spec, dict) or "Type" not in spec:
            raise TemplateError(f"Parameters.{name}: must be a mapping with a Type")
        ptype = str(spec["Type"])
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(f"Parameters.{name}: has no Default; pass a value for it")
        where = f"Parameters.{name}"
        if ptype in ("CommaDelimitedList", "List<Number>") or ptype.startswith("List<"):
            items = raw if isinstance(raw, list) else _scalar_str(raw).split(",")
            values[name] = [_scalar_str(i).strip() for i in items]
            continue
        if ptype.startswith("AWS::SSM::Parameter"):
            raise TemplateError(f"{where}: SSM parameter types are not supported locally")
        value = _scalar_str(raw)
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [_scalar_str(v) for v in allowed]:
            raise TemplateError(f"{where}: {value!r} is not one of {[_scalar_str(v) for v in allowed]}")
        if ptype == "Number":
            try:
                number = float(value)
            except ValueError:
                raise TemplateError(f"{where}: {value!r} is not a number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise TemplateError(f"{where}: {value} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise TemplateError(f"{where}: {value} is above MaxValue {spec['MaxValue']}")
        elif "AllowedPattern" in spec and not re.fullmatch(str(spec["AllowedPattern"]), value):
            raise TemplateError(f"{where}: {value!r} does not match {spec['AllowedPattern']!r}")
        values[name] = value
    return values


# --------------------------------------------------------------------------- typed helpers


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise TemplateError(f"{where}: expected a whole number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: expected a whole number, got {value!r}") from None
    if number != int(number):
        raise TemplateError(f"{where}: expected a whole number, got {value!r}")
    return int(number)


def _as_float(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: expected a number, got {value!r}") from None


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TemplateError(f"{where}: expected true or false, got {value!r}")


def _as_str(value: Any, where: str) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise TemplateError(f"{where}: expected a string, got {value!r}")
    return _scalar_str(value)


def _merge_globals(global_props: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """SAM Globals merge: maps merge recursively, lists append, scalars are replaced."""
    merged = copy.deepcopy(global_props)
    for key, value in own.items():
        if (
            key in merged
            and isinstance(merged[key], dict)
            and isinstance(value, dict)
            and not (len(value) == 1 and next(iter(value)) in _INTRINSICS)
        ):
            merged[key] = _merge_globals(merged[key], value)
        elif key in merged and isinstance(merged[key], list) and isinstance(value, list):
            merged[key] = merged[key] + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --------------------------------------------------------------------------- builders


def _build_queue(res: _Resolver, logical_id: str, props: dict[str, Any]) -> Queue:
    base = f"Resources.{logical_id}.Properties"
    p = res.resolve(props, base)
    name = res.physical_name(logical_id, f"{base}.QueueName")
    fifo = _as_bool(p.get("FifoQueue", False), f"{base}.FifoQueue")
    if fifo != name.endswith(".fifo"):
        raise TemplateError(f"{base}.QueueName: a FIFO queue name must end in .fifo (and only a FIFO one)")
    attributes: dict[str, str] = {}
    simple = (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "MaximumMessageSize",
        "ReceiveMessageWaitTimeSeconds",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    )
    for key in simple:
        if key in p:
            attributes[key] = _scalar_str(p[key])
    if fifo:
        attributes["FifoQueue"] = "true"
    redrive = None
    if "RedrivePolicy" in p:
        policy = p["RedrivePolicy"]
        if isinstance(policy, str):
            try:
                policy = json.loads(policy)
            except ValueError:
                raise TemplateError(f"{base}.RedrivePolicy: not valid JSON") from None
        if not isinstance(policy, dict) or "deadLetterTargetArn" not in policy or "maxReceiveCount" not in policy:
            raise TemplateError(f"{base}.RedrivePolicy: needs deadLetterTargetArn and maxReceiveCount")
        arn = _as_str(policy["deadLetterTargetArn"], f"{base}.RedrivePolicy.deadLetterTargetArn")
        count = _as_int(policy["maxReceiveCount"], f"{base}.RedrivePolicy.maxReceiveCount")
        dlq_id = next(
            (
                qid
                for qid, r in res.resources.items()
                if isinstance(r, dict) and r.get("Type") == "AWS::SQS::Queue" and res.get_att(qid, "Arn", base) == arn
            ),
            None,
        )
        if dlq_id is None:
            raise TemplateError(f"{base}.RedrivePolicy.deadLetterTargetArn: {arn} is not a queue of the template")
        redrive = Redrive(dlq_id, count)
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count})
    allow = p.get("RedriveAllowPolicy")
    if isinstance(allow, str):
        try:
            allow = json.loads(allow)
        except ValueError:
            raise TemplateError(f"{base}.RedriveAllowPolicy: not valid JSON") from None
    if allow is not None:
        if not isinstance(allow, dict):
            raise TemplateError(f"{base}.RedriveAllowPolicy: must be a mapping")
        attributes["RedriveAllowPolicy"] = json.dumps(allow)
    visibility = _as_int(p.get("VisibilityTimeout", 30), f"{base}.VisibilityTimeout")
    return Queue(
        logical_id=logical_id,
        name=name,
        url=res.queue_url(name),
        arn=f"arn:aws:sqs:{res.region}:{res.account_id}:{name}",
        fifo=fifo,
        visibility_timeout=visibility,
        redrive=redrive,
        redrive_allow_policy=allow,
        dedup_scope=_scalar_str(p["DeduplicationScope"]) if "DeduplicationScope" in p else None,
        content_based_dedup=_as_bool(p.get("ContentBasedDeduplication", False), f"{base}.ContentBasedDeduplication"),
        attributes=attributes,
    )


def _build_table(res: _Resolver, logical_id: str, props: dict[str, Any]) -> Table:
    base = f"Resources.{logical_id}.Properties"
    p = res.resolve(props, base)
    name = res.physical_name(logical_id, f"{base}.TableName")
    for key in ("KeySchema", "AttributeDefinitions"):
        if not isinstance(p.get(key), list) or not p[key]:
            raise TemplateError(f"{base}.{key}: required (a non-empty list)")
    billing = _scalar_str(p.get("BillingMode", "PROVISIONED"))
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": p["KeySchema"],
        "AttributeDefinitions": p["AttributeDefinitions"],
        "BillingMode": billing,
    }

    def throughput(spec: Any, where: str) -> dict[str, int]:
        spec = spec or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        return {k: _as_int(spec.get(k, 5), f"{where}.{k}") for k in ("ReadCapacityUnits", "WriteCapacityUnits")}

    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = throughput(p.get("ProvisionedThroughput"), f"{base}.ProvisionedThroughput")
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in p:
            indexes = []
            for i, idx in enumerate(p[key]):
                where = f"{base}.{key}[{i}]"
                if not isinstance(idx, dict) or not {"IndexName", "KeySchema", "Projection"} <= set(idx):
                    raise TemplateError(f"{where}: needs IndexName, KeySchema and Projection")
                item = {k: idx[k] for k in ("IndexName", "KeySchema", "Projection")}
                if key == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
                    item["ProvisionedThroughput"] = throughput(idx.get("ProvisionedThroughput"), where)
                indexes.append(item)
            kwargs[key] = indexes
    if "StreamSpecification" in p:
        spec = p["StreamSpecification"]
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.get("StreamViewType")}
    if "SSESpecification" in p:
        kwargs["SSESpecification"] = {
            "Enabled": _as_bool(p["SSESpecification"].get("SSEEnabled", False), f"{base}.SSESpecification.SSEEnabled")
        }
    ttl = None
    spec = p.get("TimeToLiveSpecification")
    if spec:
        if not isinstance(spec, dict) or "AttributeName" not in spec:
            raise TemplateError(f"{base}.TimeToLiveSpecification: needs AttributeName")
        if _as_bool(spec.get("Enabled", True), f"{base}.TimeToLiveSpecification.Enabled"):
            ttl = _as_str(spec["AttributeName"], f"{base}.TimeToLiveSpecification.AttributeName")
    return Table(logical_id=logical_id, name=name, create_kwargs=kwargs, ttl_attribute=ttl)


_DEFAULT_GATEWAY_STATUS = {
    "INVALID_API_KEY": 403,
    "THROTTLED": 429,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "ACCESS_DENIED": 403,
    "QUOTA_EXCEEDED": 429,
    "DEFAULT_4XX": None,
    "DEFAULT_5XX": None,
}


def _build_api(res: _Resolver, logical_id: str, props: dict[str, Any], globals_api: dict[str, Any]) -> Api:
    base = f"Resources.{logical_id}.Properties"
    p = res.resolve(_merge_globals(globals_api, props), base)
    if "StageName" not in p:
        raise TemplateError(f"{base}.StageName: required")
    auth = p.get("Auth") or {}
    usage = auth.get("UsagePlan") or {}
    throttle = None
    if usage.get("CreateUsagePlan", "NONE") != "NONE" and usage.get("Throttle"):
        t = usage["Throttle"]
        throttle = Throttle(
            rate_limit=_as_float(t.get("RateLimit", 10000), f"{base}.Auth.UsagePlan.Throttle.RateLimit"),
            burst_limit=_as_int(t.get("BurstLimit", 5000), f"{base}.Auth.UsagePlan.Throttle.BurstLimit"),
        )
    responses: dict[str, GatewayResponse] = {}
    for rtype, spec in (p.get("GatewayResponses") or {}).items():
        where = f"{base}.GatewayResponses.{rtype}"
        if not isinstance(spec, dict):
            raise TemplateError(f"{where}: must be a mapping")
        templates = spec.get("ResponseTemplates") or {}
        body = templates.get("application/json", next(iter(templates.values()), None))
        headers = {}
        for h, v in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            headers[h] = _scalar_str(v).strip("'")
        status = _as_int(spec["StatusCode"], f"{where}.StatusCode") if "StatusCode" in spec else None
        responses[rtype] = GatewayResponse(status, None if body is None else _scalar_str(body), headers)
    return Api(
        logical_id=logical_id,
        name=_scalar_str(p.get("Name", f"{res.stack_name}-{logical_id}")),
        stage_name=_as_str(p["StageName"], f"{base}.StageName"),
        api_key_required=_as_bool(auth.get("ApiKeyRequired", False), f"{base}.Auth.ApiKeyRequired"),
        throttle=throttle,
        gateway_responses=responses,
    )


def _event_enabled(props: dict[str, Any], where: str) -> bool:
    if "Enabled" in props:
        return _as_bool(props["Enabled"], f"{where}.Enabled")
    if "State" in props:
        return _scalar_str(props["State"]).upper() == "ENABLED"
    return True


def _build_function(
    res: _Resolver, model: TemplateModel, logical_id: str, props: dict[str, Any], globals_fn: dict[str, Any]
) -> Function:
    base = f"Resources.{logical_id}.Properties"
    merged = _merge_globals(globals_fn, props)
    if "InlineCode" in merged:
        raise TemplateError(f"{base}.InlineCode: inline code is not supported by the local runtime")
    for key in ("CodeUri", "Handler"):
        if key not in merged:
            raise TemplateError(f"{base}.{key}: required")
    code_uri = res.resolve(merged["CodeUri"], f"{base}.CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{base}.CodeUri: must be a local folder (S3 locations are not supported locally)")
    handler = _as_str(res.resolve(merged["Handler"], f"{base}.Handler"), f"{base}.Handler")
    if "." not in handler:
        raise TemplateError(f"{base}.Handler: expected module.function, got {handler!r}")
    env_raw = ((merged.get("Environment") or {}).get("Variables")) or {}
    env: dict[str, str] = {}
    for key, value in env_raw.items():
        where = f"{base}.Environment.Variables.{key}"
        resolved = res.resolve(value, where)
        if resolved is _NO_VALUE:
            continue
        env[key] = _as_str(resolved, where)
    layers: list[str] = []
    for i, layer in enumerate(merged.get("Layers") or []):
        if isinstance(layer, dict) and set(layer) == {"Ref"} and layer["Ref"] in model.layers:
            layers.append(layer["Ref"])
        else:
            res.resolve(layer, f"{base}.Layers[{i}]")  # validates; external layers are ignored
    api_events: list[ApiEvent] = []
    sqs_events: list[SqsEvent] = []
    schedule_events: list[ScheduleEvent] = []
    for ev_name, ev in (merged.get("Events") or {}).items():
        where = f"{base}.Events.{ev_name}"
        if not isinstance(ev, dict) or "Type" not in ev:
            raise TemplateError(f"{where}: must be a mapping with a Type")
        etype = ev["Type"]
        raw_props = ev.get("Properties") or {}
        if etype == "SQS":
            queue_ref = raw_props.get("Queue")
            arn = res.resolve(queue_ref, f"{where}.Properties.Queue")
            queue = model.queue_by_arn(arn) if isinstance(arn, str) else None
            if queue is None:
                raise TemplateError(f"{where}.Properties.Queue: {arn!r} is not the Arn of a queue of the template")
            ep = res.resolve(raw_props, f"{where}.Properties")
            batch = _as_int(ep.get("BatchSize", 10), f"{where}.Properties.BatchSize")
            scaling = ep.get("ScalingConfig") or {}
            concurrency = _as_int(
                scaling.get("MaximumConcurrency", 2), f"{where}.Properties.ScalingConfig.MaximumConcurrency"
            )
            if concurrency < 1:
                raise TemplateError(f"{where}.Properties.ScalingConfig.MaximumConcurrency: must be at least 1")
            if batch < 1:
                raise TemplateError(f"{where}.Properties.BatchSize: must be at least 1")
            sqs_events.append(
                SqsEvent(
                    name=ev_name,
                    queue_logical_id=queue.logical_id,
                    batch_size=batch,
                    max_concurrency=concurrency,
                    function_response_types=tuple(ep.get("FunctionResponseTypes") or ()),
                    enabled=_event_enabled(ep, f"{where}.Properties"),
                )
            )
        elif etype == "Api":
            ep = res.resolve(raw_props, f"{where}.Properties")
            if "Path" not in ep or "Method" not in ep:
                raise TemplateError(f"{where}.Properties: an Api event needs Path and Method")
            path = _as_str(ep["Path"], f"{where}.Properties.Path")
            if not path.startswith("/"):
                raise TemplateError(f"{where}.Properties.Path: must start with '/', got {path!r}")
            rest_api = raw_props.get("RestApiId")
            if rest_api is None:
                api_id = "ServerlessRestApi"
            elif isinstance(rest_api, dict) and set(rest_api) == {"Ref"} and rest_api["Ref"] in model.apis:
                api_id = rest_api["Ref"]
            else:
                raise TemplateError(
                    f"{where}.Properties.RestApiId: must be a Ref to an AWS::Serverless::Api of the template"
                )
            if api_id == "ServerlessRestApi" and api_id not in model.apis:
                model.apis[api_id] = Api(api_id, f"{res.stack_name}-api", "Prod", False, None, {})
            auth = ep.get("Auth") or {}
            key_required = (
                _as_bool(auth["ApiKeyRequired"], f"{where}.Properties.Auth.ApiKeyRequired")
                if "ApiKeyRequired" in auth
                else model.apis[api_id].api_key_required
            )
            method = _as_str(ep["Method"], f"{where}.Properties.Method").upper()
            api_events.append(ApiEvent(ev_name, path, method, key_required, api_id))
        elif etype in ("Schedule", "ScheduleV2"):
            ep = res.resolve(raw_props, f"{where}.Properties")
            if "ScheduleExpression" not in ep and "Schedule" not in ep:
                raise TemplateError(f"{where}.Properties.ScheduleExpression: required")
            expression = _as_str(
                ep.get("ScheduleExpression", ep.get("Schedule")), f"{where}.Properties.ScheduleExpression"
            )
            default_name = (
                f"{logical_id}{ev_name}" if etype == "ScheduleV2" else f"{res.stack_name}-{logical_id}{ev_name}"
            )
            input_value = ep.get("Input")
            schedule_events.append(
                ScheduleEvent(
                    name=ev_name,
                    schedule_name=_as_str(ep.get("Name", default_name), f"{where}.Properties.Name"),
                    expression=expression,
                    timezone=_as_str(
                        ep.get("ScheduleExpressionTimezone", "UTC"), f"{where}.Properties.ScheduleExpressionTimezone"
                    ),
                    type=etype,
                    enabled=_event_enabled(ep, f"{where}.Properties"),
                    input=(
                        None
                        if input_value is None
                        else input_value
                        if isinstance(input_value, str)
                        else json.dumps(input_value)
                    ),
                    group_name=_as_str(ep.get("GroupName", "default"), f"{where}.Properties.GroupName"),
                    description=ep.get("Description"),
                )
            )
        # Other event types (S3, SNS, DynamoDB streams...) are not run locally.
    return Function(
        logical_id=logical_id,
        function_name=res.physical_name(logical_id, f"{base}.FunctionName"),
        code_uri=code_uri,
        handler=handler,
        runtime=merged.get("Runtime"),
        timeout=_as_int(res.resolve(merged.get("Timeout", 3), f"{base}.Timeout"), f"{base}.Timeout"),
        memory_size=_as_int(res.resolve(merged.get("MemorySize", 128), f"{base}.MemorySize"), f"{base}.MemorySize"),
        environment=env,
        layers=tuple(layers),
        api_events=tuple(api_events),
        sqs_events=tuple(sqs_events),
        schedule_events=tuple(schedule_events),
    )


def load_template(
    path: str | Path,
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    sqs_endpoint: str | None = None,
) -> TemplateModel:
    """Load and resolve ``path`` into a :class:`TemplateModel`.

    ``sqs_endpoint`` (e.g. ``http://127.0.0.1:4566``) makes queue URLs point at the local
    endpoint; without it they have the AWS form.
    """
    path = Path(path)
    doc = load_yaml(path)
    params = _resolve_parameters(doc, dict(parameter_overrides or {}))
    res = _Resolver(doc, params, stack_name=stack_name, region=region, account_id=account_id, sqs_endpoint=sqs_endpoint)
    model = TemplateModel(
        path=path,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=params,
        raw=doc,
        sqs_endpoint=sqs_endpoint,
    )
    globals_ = doc.get("Globals") or {}
    if not isinstance(globals_, dict):
        raise TemplateError("Globals: must be a mapping")
    for logical_id, resource in doc["Resources"].items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"Resources.{logical_id}: must be a mapping with a Type")
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            raise TemplateError(f"Resources.{logical_id}.Properties: must be a mapping")
    enabled = [lid for lid in doc["Resources"] if res.resource_enabled(lid)]

    def of_type(*types: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (lid, doc["Resources"][lid].get("Properties") or {})
            for lid in enabled
            if doc["Resources"][lid]["Type"] in types
        ]

    for lid, props in of_type("AWS::Serverless::LayerVersion"):
        uri = res.resolve(props.get("ContentUri"), f"Resources.{lid}.Properties.ContentUri")
        if isinstance(uri, str):
            model.layers[lid] = Layer(lid, uri)
    for lid, props in of_type("AWS::SQS::Queue"):
        model.queues[lid] = _build_queue(res, lid, props)
    for lid, props in of_type("AWS::DynamoDB::Table"):
        model.tables[lid] = _build_table(res, lid, props)
    for lid, props in of_type("AWS::Serverless::Api"):
        model.apis[lid] = _build_api(res, lid, props, globals_.get("Api") or {})
    for lid, props in of_type("AWS::Serverless::Function"):
        model.functions[lid] = _build_function(res, model, lid, props, globals_.get("Function") or {})
    return model


def resolve_value(model: TemplateModel, value: Any, where: str = "value") -> Any:
    """Resolve an arbitrary template fragment (e.g. an Output) against ``model``."""
    res = _Resolver(
        model.raw,
        model.parameters,
        stack_name=model.stack_name,
        region=model.region,
        account_id=model.account_id,
        sqs_endpoint=model.sqs_endpoint,
    )
    return res.resolve(value, where)
