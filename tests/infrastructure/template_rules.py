"""crmhub's own rules for the CloudFormation that the SAM transform produces.

Every ``check_*`` function takes a *translated* template (``translate.translate_template``)
and returns a list of human-readable violations; an empty list means the rule holds.
They run on the real ``template.yaml`` and on deliberately broken copies (see
``test_template_rules.py``), so each rule is known to bite.

``parameters`` (where accepted) are deploy-time parameter values; anything not given
falls back to the template's ``Default``, which is what ``sam deploy`` would use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Template = Mapping[str, Any]
Params = Mapping[str, Any] | None

# ------------------------------------------------------------------ policy knobs

MAX_CONCURRENCY_RANGE = (2, 10)
FIFO_MAX_BATCH_SIZE = 10
SQS_DEFAULT_BATCH_SIZE = 10
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS: queue visibility >= 6 x function timeout (+ batching window)
SQS_DEFAULT_VISIBILITY_TIMEOUT = 30
LAMBDA_DEFAULT_TIMEOUT = 3
REQUIRED_RUNTIME = "python3.13"

# Tables whose items must expire (logical IDs in template.yaml).
TTL_REQUIRED_TABLES = ("SyncLogTable", "EventsTable", "IdempotencyTable")

# Schedules: target function -> kind of schedule it must have.
REQUIRED_SCHEDULES = {
    "ScheduledImportFunction": "rate(10 minutes)",
    "CleanupFunction": "daily",
    "ReconciliationFunction": "weekly",
}

# API paths: prefixes that must require an API key / must not.
API_KEY_REQUIRED_PREFIXES = ("/api/",)
API_KEY_FORBIDDEN_PREFIXES = ("/webhooks/", "/health")

# Services whose permissions must be scoped to named resources.
SCOPED_SERVICES = ("dynamodb", "sqs", "secretsmanager")

# AWS managed policies a function role may carry. Anything else (AmazonDynamoDBFullAccess,
# AmazonSQSFullAccess, SecretsManagerReadWrite, ...) is a violation until reviewed here.
ACCEPTED_MANAGED_POLICIES = {
    # CloudWatch Logs only.
    "AWSLambdaBasicExecutionRole": "logs:CreateLogGroup/CreateLogStream/PutLogEvents",
    # xray:Put*/Get* on "*": X-Ray has no resource-level permissions.
    "AWSXrayWriteOnlyAccess": "X-Ray has no resource-level permissions",
    # sqs:ReceiveMessage/DeleteMessage/GetQueueAttributes on "*". SAM attaches it to the
    # generated role of every function with an SQS event; the event source mapping (not
    # the handler) uses it. Accepted knowingly: removing it means replacing SAM's role for
    # SyncWorkerFunction with a hand-written one (see the notes in the report).
    "AWSLambdaSQSQueueExecutionRole": "SAM-generated for SQS event sources",
}


# ------------------------------------------------------------------ helpers


def resources(cfn: Template, rtype: str | Iterable[str]) -> dict[str, dict[str, Any]]:
    types = {rtype} if isinstance(rtype, str) else set(rtype)
    return {k: v for k, v in cfn.get("Resources", {}).items() if v.get("Type") in types}


def props(resource: Mapping[str, Any]) -> dict[str, Any]:
    return resource.get("Properties") or {}


def ref_target(value: Any) -> str | None:
    """Logical ID behind ``{"Ref": X}`` or ``{"Fn::GetAtt": [X, ...]}`` / ``"X.Attr"``."""
    if isinstance(value, Mapping):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            if isinstance(att, list) and att:
                return str(att[0])
            if isinstance(att, str):
                return att.split(".", 1)[0]
    return None


class Unresolved(Exception):
    pass


def resolve_scalar(cfn: Template, value: Any, parameters: Params = None) -> Any:
    """A literal, or a Ref to a template parameter (override, else its Default)."""
    if isinstance(value, Mapping):
        name = value.get("Ref") if len(value) == 1 else None
        template_params = cfn.get("Parameters", {})
        if isinstance(name, str) and name in template_params:
            if parameters and name in parameters:
                return parameters[name]
            if "Default" in template_params[name]:
                return template_params[name]["Default"]
            raise Unresolved(f"parameter {name} has no Default and no value was given")
        raise Unresolved(f"cannot evaluate {value!r} offline")
    return value


def as_int(cfn: Template, value: Any, parameters: Params = None) -> int:
    return int(resolve_scalar(cfn, value, parameters))


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _sqs_event_source_mappings(cfn: Template) -> dict[str, dict[str, Any]]:
    queues = resources(cfn, "AWS::SQS::Queue")
    out = {}
    for name, esm in resources(cfn, "AWS::Lambda::EventSourceMapping").items():
        source = props(esm).get("EventSourceArn")
        target = ref_target(source)
        if target in queues or (isinstance(source, str) and ":sqs:" in source):
            out[name] = esm
    return out


def _dead_letter_targets(cfn: Template) -> dict[str, str]:
    """queue logical ID -> DLQ logical ID (only when the DLQ is in this template)."""
    out = {}
    for name, queue in resources(cfn, "AWS::SQS::Queue").items():
        redrive = props(queue).get("RedrivePolicy") or {}
        target = ref_target(redrive.get("deadLetterTargetArn"))
        if target:
            out[name] = target
    return out


# ------------------------------------------------------------------ rules: queues


def check_fifo_queues(cfn: Template, parameters: Params = None) -> list[str]:
    """Every FIFO source queue redrives to a FIFO DLQ; every DLQ has a RedriveAllowPolicy.

    A FIFO queue counts as a source when an event source mapping reads it or when no other
    queue uses it as its dead-letter queue (a new queue cannot dodge the rule by having no
    consumer yet).
    """
    violations: list[str] = []
    queues = resources(cfn, "AWS::SQS::Queue")
    dlq_of = _dead_letter_targets(cfn)
    dlqs = set(dlq_of.values())
    consumed = {ref_target(props(e).get("EventSourceArn")) for e in _sqs_event_source_mappings(cfn).values()}

    for name, queue in sorted(queues.items()):
        p = props(queue)
        fifo = is_true(p.get("FifoQueue"))
        is_source = name in consumed or name not in dlqs
        if not fifo or not is_source:
            continue
        redrive = p.get("RedrivePolicy")
        if not redrive:
            violations.append(f"{name}: FIFO source queue has no RedrivePolicy (no dead-letter queue)")
            continue
        if "maxReceiveCount" not in redrive:
            violations.append(f"{name}: RedrivePolicy has no maxReceiveCount")
        target = ref_target(redrive.get("deadLetterTargetArn"))
        if target is None:
            arn = redrive.get("deadLetterTargetArn")
            if not (isinstance(arn, str) and arn.endswith(".fifo")):
                violations.append(f"{name}: deadLetterTargetArn {arn!r} is not a FIFO queue of this template")
            continue
        if target not in queues:
            violations.append(f"{name}: deadLetterTargetArn points at {target}, which is not an SQS queue")
        elif not is_true(props(queues[target]).get("FifoQueue")):
            violations.append(f"{name}: dead-letter queue {target} is not FIFO (a FIFO queue needs a FIFO DLQ)")
        if target == name:
            violations.append(f"{name}: redrives to itself")

    for dlq in sorted(dlqs):
        if dlq in queues and not props(queues[dlq]).get("RedriveAllowPolicy"):
            violations.append(f"{dlq}: dead-letter queue has no RedriveAllowPolicy")
    return violations


# ------------------------------------------------------------------ rules: event source mappings


def check_event_source_mappings(cfn: Template, parameters: Params = None) -> list[str]:
    """SQS mappings report partial batch failures, are capped at 2..10 concurrent
    invocations, take at most 10 messages per batch from FIFO queues, and their queue's
    visibility timeout is at least 6x the consumer's timeout (+ batching window)."""
    violations: list[str] = []
    queues = resources(cfn, "AWS::SQS::Queue")
    functions = resources(cfn, "AWS::Lambda::Function")
    lo, hi = MAX_CONCURRENCY_RANGE
    esms = _sqs_event_source_mappings(cfn)

    for name, esm in sorted(esms.items()):
        p = props(esm)
        types = as_list(p.get("FunctionResponseTypes"))
        if "ReportBatchItemFailures" not in types:
            violations.append(f"{name}: FunctionResponseTypes is {types!r}, must include 'ReportBatchItemFailures'")

        scaling = p.get("ScalingConfig") or {}
        if "MaximumConcurrency" not in scaling:
            violations.append(f"{name}: ScalingConfig.MaximumConcurrency is not set")
        else:
            try:
                conc = as_int(cfn, scaling["MaximumConcurrency"], parameters)
                if not lo <= conc <= hi:
                    violations.append(f"{name}: ScalingConfig.MaximumConcurrency is {conc}, must be {lo}..{hi}")
            except (Unresolved, TypeError, ValueError) as exc:
                violations.append(f"{name}: ScalingConfig.MaximumConcurrency: {exc}")

        queue_name = ref_target(p.get("EventSourceArn"))
        queue = queues.get(queue_name or "")
        if queue is None:
            violations.append(f"{name}: source queue is not defined in this template; cannot check it")
            continue
        qp = props(queue)

        try:
            batch = as_int(cfn, p.get("BatchSize", SQS_DEFAULT_BATCH_SIZE), parameters)
            if is_true(qp.get("FifoQueue")) and batch > FIFO_MAX_BATCH_SIZE:
                violations.append(f"{name}: BatchSize {batch} > {FIFO_MAX_BATCH_SIZE} for FIFO queue {queue_name}")
        except (Unresolved, TypeError, ValueError) as exc:
            violations.append(f"{name}: BatchSize: {exc}")

        function_name = ref_target(p.get("FunctionName"))
        function = functions.get(function_name or "")
        if function is None:
            violations.append(f"{name}: consuming function is not defined in this template; cannot check timeouts")
            continue
        try:
            timeout = as_int(cfn, props(function).get("Timeout", LAMBDA_DEFAULT_TIMEOUT), parameters)
            window = as_int(cfn, p.get("MaximumBatchingWindowInSeconds", 0), parameters)
            visibility = as_int(cfn, qp.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT), parameters)
        except (Unresolved, TypeError, ValueError) as exc:
            violations.append(f"{name}: timeouts: {exc}")
            continue
        needed = VISIBILITY_TIMEOUT_FACTOR * timeout + window
        if visibility < needed:
            violations.append(
                f"{queue_name}: VisibilityTimeout {visibility}s < {VISIBILITY_TIMEOUT_FACTOR} x "
                f"{function_name} Timeout {timeout}s"
                + (f" + batching window {window}s" if window else "")
                + f" = {needed}s"
            )
    if not esms:
        violations.append("no SQS event source mapping found (expected the sync worker's lanes)")
    return violations


def check_concurrency_parameter_bounds(cfn: Template, parameters: Params = None) -> list[str]:
    """A MaximumConcurrency that comes from a template parameter must be unable to leave
    2..10 at deploy time: the parameter needs MinValue >= 2 and MaxValue <= 10 (otherwise a
    ``--parameter-overrides`` can set anything CloudFormation accepts, up to 1000)."""
    violations: list[str] = []
    lo, hi = MAX_CONCURRENCY_RANGE
    template_params = cfn.get("Parameters", {})
    for name, esm in sorted(_sqs_event_source_mappings(cfn).items()):
        value = (props(esm).get("ScalingConfig") or {}).get("MaximumConcurrency")
        param = value.get("Ref") if isinstance(value, Mapping) else None
        if not isinstance(param, str) or param not in template_params:
            continue
        spec = template_params[param]
        if "MinValue" not in spec or float(spec["MinValue"]) < lo:
            violations.append(f"Parameter {param} (used by {name}): needs MinValue: {lo} (has {spec.get('MinValue')})")
        if "MaxValue" not in spec or float(spec["MaxValue"]) > hi:
            violations.append(f"Parameter {param} (used by {name}): needs MaxValue: {hi} (has {spec.get('MaxValue')})")
    return violations


# ------------------------------------------------------------------ rules: functions, tables


def check_functions(cfn: Template, parameters: Params = None) -> list[str]:
    """Every function has active X-Ray tracing and runs on python3.13."""
    violations: list[str] = []
    functions = resources(cfn, "AWS::Lambda::Function")
    for name, function in sorted(functions.items()):
        p = props(function)
        mode = (p.get("TracingConfig") or {}).get("Mode")
        if mode != "Active":
            violations.append(f"{name}: TracingConfig.Mode is {mode!r}, must be 'Active'")
        try:
            runtime = resolve_scalar(cfn, p.get("Runtime"), parameters)
        except Unresolved as exc:
            runtime = f"<{exc}>"
        if runtime != REQUIRED_RUNTIME:
            violations.append(f"{name}: Runtime is {runtime!r}, must be {REQUIRED_RUNTIME!r}")
    if not functions:
        violations.append("no AWS::Lambda::Function found")
    return violations


def check_tables(cfn: Template, parameters: Params = None) -> list[str]:
    """Every table is on-demand; the sync-log, events and idempotency tables expire items."""
    violations: list[str] = []
    tables = resources(cfn, ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"))
    for name, table in sorted(tables.items()):
        p = props(table)
        try:
            billing = resolve_scalar(cfn, p.get("BillingMode"), parameters)
        except Unresolved as exc:
            billing = f"<{exc}>"
        if billing != "PAY_PER_REQUEST":
            violations.append(f"{name}: BillingMode is {billing!r}, must be 'PAY_PER_REQUEST'")
    for name in TTL_REQUIRED_TABLES:
        if name not in tables:
            violations.append(f"{name}: table not found (it must exist and have TTL enabled)")
            continue
        ttl = props(tables[name]).get("TimeToLiveSpecification") or {}
        if not is_true(ttl.get("Enabled")) or not ttl.get("AttributeName"):
            violations.append(f"{name}: TimeToLiveSpecification must be enabled with an AttributeName (has {ttl!r})")
    return violations


# ------------------------------------------------------------------ rules: API keys


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}


def _api_key_schemes(body: Mapping[str, Any]) -> set[str]:
    defs = dict(body.get("securityDefinitions") or {})
    defs.update((body.get("components") or {}).get("securitySchemes") or {})
    return {
        name
        for name, d in defs.items()
        if isinstance(d, Mapping) and d.get("type") == "apiKey" and str(d.get("name", "")).lower() == "x-api-key"
    }


def _requires_api_key(operation: Mapping[str, Any], body: Mapping[str, Any], schemes: set[str]) -> bool:
    security = operation.get("security", body.get("security")) or []
    return any(isinstance(req, Mapping) and schemes & set(req) for req in security)


def check_api_keys(cfn: Template, parameters: Params = None) -> list[str]:
    """Every /api/ method requires the x-api-key; /webhooks/ and /health never do; the
    API has a usage plan (keys are useless without one)."""
    violations: list[str] = []
    apis = resources(cfn, "AWS::ApiGateway::RestApi")
    seen = {prefix: 0 for prefix in API_KEY_REQUIRED_PREFIXES + API_KEY_FORBIDDEN_PREFIXES}
    for api_name, api in sorted(apis.items()):
        body = props(api).get("Body")
        if not isinstance(body, Mapping):
            violations.append(f"{api_name}: no inline OpenAPI Body to inspect")
            continue
        schemes = _api_key_schemes(body)
        for path, item in sorted((body.get("paths") or {}).items()):
            for method, operation in (item or {}).items():
                if method.lower() not in _HTTP_METHODS or not isinstance(operation, Mapping):
                    continue
                keyed = _requires_api_key(operation, body, schemes)
                label = f"{api_name} {method.upper()} {path}"
                for prefix in API_KEY_REQUIRED_PREFIXES:
                    if path.startswith(prefix):
                        seen[prefix] += 1
                        if not keyed:
                            violations.append(f"{label}: must require an API key")
                for prefix in API_KEY_FORBIDDEN_PREFIXES:
                    if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path == prefix.rstrip("/"):
                        seen[prefix] += 1
                        if keyed:
                            violations.append(f"{label}: must NOT require an API key")
        plans = [
            plan
            for plan in resources(cfn, "AWS::ApiGateway::UsagePlan").values()
            if any(ref_target(s.get("ApiId")) == api_name for s in props(plan).get("ApiStages") or [])
        ]
        if not plans:
            violations.append(f"{api_name}: no usage plan attached, API keys cannot be used")
    for prefix, count in seen.items():
        if count == 0:
            violations.append(f"no API method under {prefix} found")
    return violations


# ------------------------------------------------------------------ rules: schedules


_SINGLE = re.compile(r"^\d{1,2}$")
_DAYS = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "1", "2", "3", "4", "5", "6", "7"}


def schedule_kind(expression: str) -> str:
    """'daily', 'weekly', or the normalised expression itself (e.g. 'rate(10 minutes)')."""
    expr = " ".join(str(expression).split())
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expr)
    if m:
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if (unit, n) in {("day", 1), ("hour", 24)}:
            return "daily"
        if (unit, n) == ("day", 7):
            return "weekly"
        return expr
    m = re.fullmatch(r"cron\((.*)\)", expr)
    if m:
        fields = m.group(1).split()
        if len(fields) == 6:
            minute, hour, dom, month, dow, year = fields
            fixed_time = bool(_SINGLE.match(minute) and _SINGLE.match(hour))
            if fixed_time and month == "*" and year == "*":
                if dom in {"*", "?"} and dow in {"*", "?"}:
                    return "daily"
                if dom == "?" and dow.upper() in _DAYS:
                    return "weekly"
    return expr


def _schedules_by_target(cfn: Template) -> dict[str, list[tuple[str, str, bool]]]:
    out: dict[str, list[tuple[str, str, bool]]] = {}
    for name, sched in resources(cfn, "AWS::Scheduler::Schedule").items():
        p = props(sched)
        target = ref_target((p.get("Target") or {}).get("Arn"))
        enabled = str(p.get("State", "ENABLED")).upper() == "ENABLED"
        if target:
            out.setdefault(target, []).append((name, str(p.get("ScheduleExpression")), enabled))
    for name, rule in resources(cfn, "AWS::Events::Rule").items():
        p = props(rule)
        if "ScheduleExpression" not in p:
            continue
        enabled = str(p.get("State", "ENABLED")).upper() == "ENABLED"
        for t in p.get("Targets") or []:
            target = ref_target(t.get("Arn"))
            if target:
                out.setdefault(target, []).append((name, str(p["ScheduleExpression"]), enabled))
    return out


def check_schedules(cfn: Template, parameters: Params = None) -> list[str]:
    """Import every 10 minutes, cleanup daily, reconciliation weekly, all enabled."""
    violations: list[str] = []
    by_target = _schedules_by_target(cfn)
    for function, wanted in REQUIRED_SCHEDULES.items():
        found = by_target.get(function, [])
        good = [s for s in found if s[2] and schedule_kind(s[1]) == wanted]
        if not good:
            have = ", ".join(f"{n}: {e}{'' if en else ' (DISABLED)'}" for n, e, en in found) or "none"
            violations.append(f"{function}: needs an enabled {wanted} schedule (has {have})")
    return violations


# ------------------------------------------------------------------ rules: IAM


def _function_roles(cfn: Template) -> dict[str, str]:
    """role logical ID -> function logical ID, for roles of functions in this template."""
    out = {}
    for name, function in resources(cfn, "AWS::Lambda::Function").items():
        role = ref_target(props(function).get("Role"))
        if role:
            out[role] = name
    return out


def _policy_documents(cfn: Template, role: str) -> list[tuple[str, Mapping[str, Any]]]:
    docs = []
    for pol in props(cfn["Resources"][role]).get("Policies") or []:
        docs.append((f"{role}/{pol.get('PolicyName')}", pol.get("PolicyDocument") or {}))
    for name, pol in resources(cfn, ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")).items():
        if role in {ref_target(r) for r in props(pol).get("Roles") or []}:
            docs.append((name, props(pol).get("PolicyDocument") or {}))
    return docs


def _resource_strings(value: Any) -> list[str]:
    """Strings a Resource entry evaluates to, as far as can be told offline.

    ``${...}`` placeholders become ``X`` (a specific value: a pseudo parameter, or a
    variable bound to a Ref/GetAtt of this template) unless the Fn::Sub variable map binds
    them to a literal string, which is substituted. Ref/GetAtt of a resource of this
    template is a specific ARN and yields nothing to inspect.
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else (str(sub[0]), dict(sub[1] or {}))

        def repl(m: re.Match[str]) -> str:
            bound = variables.get(m.group(1))
            return bound if isinstance(bound, str) else "X"

        return [re.sub(r"\$\{([^}]*)\}", repl, text)]
    return []


# Resource part of an ARN that names no particular resource: "*", "table/*", "secret:*",
# "table/*/index/*", ... Prefix-scoped ones ("secret:crmhub/dev/*", "table/X/index/*",
# "crmhub-*") pass.
_WILDCARD_RESOURCE_PART = re.compile(r"^(?:[A-Za-z-]+[/:])?\*")


def _is_wildcard_resource(arn: str) -> bool:
    if arn == "*":
        return True
    parts = arn.split(":", 5)
    return len(parts) == 6 and bool(_WILDCARD_RESOURCE_PART.match(parts[5]))


def check_least_privilege(cfn: Template, parameters: Params = None) -> list[str]:
    """No function role allows ``*`` / ``service:*`` actions or Not* statements, no
    dynamodb/sqs/secretsmanager action on a wildcard resource, and only reviewed AWS
    managed policies (``ACCEPTED_MANAGED_POLICIES``)."""
    violations: list[str] = []
    roles = _function_roles(cfn)
    for role, function in sorted(roles.items()):
        if role not in cfn.get("Resources", {}):
            violations.append(f"{function}: role {role} is not defined in this template; cannot audit it")
            continue
        for arn in props(cfn["Resources"][role]).get("ManagedPolicyArns") or []:
            policy = str(arn).rsplit("/", 1)[-1] if isinstance(arn, str) else repr(arn)
            if policy not in ACCEPTED_MANAGED_POLICIES:
                violations.append(f"{function}: managed policy {policy} is not in ACCEPTED_MANAGED_POLICIES")
        for where, doc in _policy_documents(cfn, role):
            for i, stmt in enumerate(as_list(doc.get("Statement"))):
                if not isinstance(stmt, Mapping) or stmt.get("Effect") != "Allow":
                    continue
                label = f"{function} ({where} statement {i})"
                if "NotAction" in stmt or "NotResource" in stmt:
                    violations.append(f"{label}: uses NotAction/NotResource")
                actions = [a for a in as_list(stmt.get("Action")) if isinstance(a, str)]
                for action in actions:
                    if action == "*" or action.endswith(":*"):
                        violations.append(f"{label}: grants wildcard action {action!r}")
                scoped = sorted(
                    {a.split(":", 1)[0] for a in actions if a.split(":", 1)[0] in SCOPED_SERVICES}
                    | ({"*"} if "*" in actions else set())
                )
                if not scoped:
                    continue
                for res in as_list(stmt.get("Resource")):
                    for arn in _resource_strings(res):
                        if _is_wildcard_resource(arn):
                            violations.append(f"{label}: {'/'.join(scoped)} actions on wildcard resource {arn!r}")
    if not roles:
        violations.append("no function roles found")
    return violations


# ------------------------------------------------------------------ all together

# ------------------------------------------------------------------ rules: monitoring


def _getatt_target(value: Any) -> str | None:
    if isinstance(value, Mapping) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def check_monitoring(cfn: Template, parameters: Params = None) -> list[str]:
    """Every DLQ has an alarm firing on its first message; error-rate, retry-backlog and
    failing-jobs alarms exist; every alarm notifies someone; a dashboard exists."""
    out = []
    alarms = resources(cfn, "AWS::CloudWatch::Alarm")
    for name, alarm in alarms.items():
        if not as_list(props(alarm).get("AlarmActions")):
            out.append(f"{name}: alarm has no AlarmActions")
    watched = set()
    for alarm in alarms.values():
        p = props(alarm)
        if p.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        if p.get("ComparisonOperator") != "GreaterThanThreshold" or float(p.get("Threshold", -1)) != 0:
            continue
        for dimension in as_list(p.get("Dimensions")):
            if dimension.get("Name") == "QueueName" and (target := _getatt_target(dimension.get("Value"))):
                watched.add(target)
    for dlq in sorted(set(_dead_letter_targets(cfn).values()) - watched):
        out.append(f"{dlq}: no alarm on ApproximateNumberOfMessagesVisible > 0")
    metric_names = {
        str(m.get("MetricStat", {}).get("Metric", {}).get("MetricName"))
        for alarm in alarms.values()
        for m in as_list(props(alarm).get("Metrics"))
    }
    for metric, meaning in (("SyncFailed", "error rate"), ("JobPageFailed", "failing sync jobs")):
        if metric not in metric_names:
            out.append(f"no {meaning} alarm (metric {metric})")
    if "ApproximateNumberOfMessagesNotVisible" not in metric_names:
        out.append("no retry backlog alarm (ApproximateNumberOfMessagesNotVisible of the lanes)")
    if not resources(cfn, "AWS::CloudWatch::Dashboard"):
        out.append("no CloudWatch dashboard")
    return out


ALL_CHECKS: dict[str, Callable[[Template, Params], list[str]]] = {
    "fifo_queues": check_fifo_queues,
    "event_source_mappings": check_event_source_mappings,
    "concurrency_parameter_bounds": check_concurrency_parameter_bounds,
    "functions": check_functions,
    "tables": check_tables,
    "api_keys": check_api_keys,
    "schedules": check_schedules,
    "least_privilege": check_least_privilege,
    "monitoring": check_monitoring,
}


def check_all(cfn: Template, parameters: Params = None) -> dict[str, list[str]]:
    return {name: check(cfn, parameters) for name, check in ALL_CHECKS.items()}
