"""crmhub's template rules, checked on the CloudFormation that SAM makes of template.yaml.

The positive tests run every rule on the real template, once per samconfig.toml
environment (its parameter_overrides) plus the template defaults. The negative tests
write a deliberately broken copy of the template to a temp dir, translate it the same
way and assert that the rule reports exactly the thing that was broken.
"""

from __future__ import annotations

import copy
import shlex
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import template_rules as rules
from translate import load_template, translate_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"


def _environments() -> dict[str, dict[str, str]]:
    envs: dict[str, dict[str, str]] = {"template-defaults": {}}
    if SAMCONFIG.exists():
        config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
        for env, commands in config.items():
            if not isinstance(commands, dict):
                continue
            overrides = (commands.get("deploy", {}).get("parameters", {}) or {}).get("parameter_overrides")
            if overrides:
                items = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
                envs[env] = dict(item.split("=", 1) for item in items)
    return envs


ENVIRONMENTS = _environments()


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def real_cfn() -> dict[str, Any]:
    return translate_template(TEMPLATE)


@pytest.fixture(scope="module", params=sorted(ENVIRONMENTS), ids=str)
def env_case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, str]]:
    overrides = ENVIRONMENTS[request.param]
    return translate_template(TEMPLATE, overrides), overrides


# ------------------------------------------------------------------ the real template


def test_samconfig_environments_are_checked() -> None:
    assert {"dev", "prod"} <= set(ENVIRONMENTS), "samconfig.toml needs dev and prod parameter_overrides"
    assert ENVIRONMENTS["dev"].get("Stage") == "dev"
    assert ENVIRONMENTS["prod"].get("Stage") == "prod"


# Rules whose outcome can depend on deploy-time parameter values.
PARAMETER_DEPENDENT_RULES = sorted(set(rules.ALL_CHECKS) - {"concurrency_parameter_bounds"})


@pytest.mark.parametrize("rule", PARAMETER_DEPENDENT_RULES)
def test_real_template_follows_rule(env_case: tuple[dict[str, Any], dict[str, str]], rule: str) -> None:
    cfn, overrides = env_case
    violations = rules.ALL_CHECKS[rule](cfn, overrides)
    assert violations == [], "\n".join(violations)


def test_real_template_bounds_lane_concurrency_parameters(real_cfn: dict[str, Any]) -> None:
    violations = rules.check_concurrency_parameter_bounds(real_cfn)
    assert violations == [], "\n".join(violations)


def test_translation_is_offline_and_complete(real_cfn: dict[str, Any]) -> None:
    cfn = real_cfn
    types = [r["Type"] for r in cfn["Resources"].values()]
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert types.count("AWS::Lambda::Function") == 6
    assert types.count("AWS::Lambda::EventSourceMapping") == 3
    for role in rules.resources(cfn, "AWS::IAM::Role").values():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert arn.startswith("arn:aws:iam::aws:policy/"), arn


# ------------------------------------------------------------------ broken copies


Mutation = Callable[[dict[str, Any]], None]


def _res(t: dict[str, Any], name: str) -> dict[str, Any]:
    return t["Resources"][name]["Properties"]


def _event(t: dict[str, Any], function: str, event: str) -> dict[str, Any]:
    return _res(t, function)["Events"][event]["Properties"]


def _dlq_without_alarm(t: dict[str, Any]) -> None:
    del t["Resources"]["SyncLowDeadLetterAlarm"]
    widgets = t["Resources"]["HubDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][1]
    widgets.pop("DlqLowAlarm")
    body = t["Resources"]["HubDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body[0] = body[0].replace('"${DlqLowAlarm}", ', "")


def _alarm_without_action(t: dict[str, Any]) -> None:
    del _res(t, "RetryBacklogAlarm")["AlarmActions"]


def broken(sam_template: dict[str, Any], tmp_path: Path, mutate: Mutation) -> dict[str, Any]:
    """Write a mutated copy of template.yaml to tmp_path and translate it like the real one."""
    t = copy.deepcopy(sam_template)
    mutate(t)
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(t, sort_keys=False), encoding="utf-8")
    return translate_template(path)


def _set_max_concurrency_1(t: dict[str, Any]) -> None:
    _event(t, "SyncWorkerFunction", "HighLane")["ScalingConfig"]["MaximumConcurrency"] = 1


def _set_max_concurrency_11(t: dict[str, Any]) -> None:
    _event(t, "SyncWorkerFunction", "LowLane")["ScalingConfig"]["MaximumConcurrency"] = 11


def _drop_scaling_config(t: dict[str, Any]) -> None:
    del _event(t, "SyncWorkerFunction", "DefaultLane")["ScalingConfig"]


def _misspell_report_batch_item_failures(t: dict[str, Any]) -> None:
    _event(t, "SyncWorkerFunction", "HighLane")["FunctionResponseTypes"] = ["ReportBatchItemFailure"]


def _drop_function_response_types(t: dict[str, Any]) -> None:
    del _event(t, "SyncWorkerFunction", "LowLane")["FunctionResponseTypes"]


def _short_visibility_timeout(t: dict[str, Any]) -> None:
    _res(t, "SyncDefaultQueue")["VisibilityTimeout"] = 359  # sync worker Timeout 60 -> needs 360


def _longer_worker_timeout(t: dict[str, Any]) -> None:
    _res(t, "SyncWorkerFunction")["Timeout"] = 90  # queues stay at 360 < 540


def _fifo_batch_too_big(t: dict[str, Any]) -> None:
    _event(t, "SyncWorkerFunction", "HighLane")["BatchSize"] = 20


def _fifo_queue_without_dlq(t: dict[str, Any]) -> None:
    del _res(t, "SyncLowQueue")["RedrivePolicy"]


def _new_fifo_queue_without_dlq(t: dict[str, Any]) -> None:
    t["Resources"]["SyncBulkQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"QueueName": "crmhub-bulk.fifo", "FifoQueue": True, "VisibilityTimeout": 360},
    }


def _standard_dlq_for_fifo_queue(t: dict[str, Any]) -> None:
    dlq = _res(t, "SyncDefaultDeadLetterQueue")
    del dlq["FifoQueue"]
    dlq["QueueName"] = {"Fn::Sub": "crmhub-${Stage}-sync-default-dlq"}


def _dlq_without_redrive_allow_policy(t: dict[str, Any]) -> None:
    del _res(t, "SyncHighDeadLetterQueue")["RedriveAllowPolicy"]


def _unbounded_concurrency_parameter(t: dict[str, Any]) -> None:
    t["Parameters"]["HighLaneConcurrency"]["MinValue"] = 1
    t["Parameters"]["HighLaneConcurrency"].pop("MaxValue", None)


def _tracing_passthrough(t: dict[str, Any]) -> None:
    _res(t, "WebhookFunction")["Tracing"] = "PassThrough"


def _old_runtime(t: dict[str, Any]) -> None:
    _res(t, "CleanupFunction")["Runtime"] = "python3.12"


def _provisioned_table(t: dict[str, Any]) -> None:
    props = _res(t, "ConflictsTable")
    props["BillingMode"] = "PROVISIONED"
    props["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}


def _idempotency_without_ttl(t: dict[str, Any]) -> None:
    del _res(t, "IdempotencyTable")["TimeToLiveSpecification"]


def _events_ttl_disabled(t: dict[str, Any]) -> None:
    _res(t, "EventsTable")["TimeToLiveSpecification"]["Enabled"] = False


def _api_route_without_key(t: dict[str, Any]) -> None:
    del _event(t, "ApiFunction", "Api")["Auth"]


def _webhook_with_key(t: dict[str, Any]) -> None:
    _event(t, "WebhookFunction", "Webhook")["Auth"] = {"ApiKeyRequired": True}


def _key_required_everywhere(t: dict[str, Any]) -> None:
    _res(t, "HubApi")["Auth"]["ApiKeyRequired"] = True


def _import_every_15_minutes(t: dict[str, Any]) -> None:
    _event(t, "ScheduledImportFunction", "Every10Minutes")["ScheduleExpression"] = "rate(15 minutes)"


def _cleanup_hourly(t: dict[str, Any]) -> None:
    _event(t, "CleanupFunction", "Daily")["ScheduleExpression"] = "cron(0 * * * ? *)"


def _reconciliation_without_schedule(t: dict[str, Any]) -> None:
    del _res(t, "ReconciliationFunction")["Events"]


def _reconciliation_disabled(t: dict[str, Any]) -> None:
    _event(t, "ReconciliationFunction", "Weekly")["State"] = "DISABLED"


def _star_action(t: dict[str, Any]) -> None:
    _res(t, "ApiFunction")["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": {"Fn::GetAtt": ["SyncHighQueue", "Arn"]}}]}
    )


def _dynamodb_on_any_table(t: dict[str, Any]) -> None:
    _res(t, "CleanupFunction")["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": "*"}]}
    )


def _sqs_service_wildcard(t: dict[str, Any]) -> None:
    _res(t, "WebhookFunction")["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": {"Fn::GetAtt": ["SyncLowQueue", "Arn"]}}]}
    )


def _secrets_on_every_secret(t: dict[str, Any]) -> None:
    _res(t, "SyncWorkerFunction")["Policies"].append(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": {
                        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
                    },
                }
            ]
        }
    )


def _full_access_managed_policy(t: dict[str, Any]) -> None:
    _res(t, "ReconciliationFunction")["Policies"].append("AmazonDynamoDBFullAccess")


BROKEN_CASES: list[tuple[str, Mutation, Callable[..., list[str]], str]] = [
    # (id, mutation, rule, text expected in one violation)
    (
        "max-concurrency-1",
        _set_max_concurrency_1,
        rules.check_event_source_mappings,
        "SyncWorkerFunctionHighLane: ScalingConfig.MaximumConcurrency is 1",
    ),
    (
        "max-concurrency-11",
        _set_max_concurrency_11,
        rules.check_event_source_mappings,
        "SyncWorkerFunctionLowLane: ScalingConfig.MaximumConcurrency is 11",
    ),
    (
        "no-scaling-config",
        _drop_scaling_config,
        rules.check_event_source_mappings,
        "SyncWorkerFunctionDefaultLane: ScalingConfig.MaximumConcurrency is not set",
    ),
    (
        "misspelled-report-batch-item-failures",
        _misspell_report_batch_item_failures,
        rules.check_event_source_mappings,
        "SyncWorkerFunctionHighLane: FunctionResponseTypes",
    ),
    (
        "no-function-response-types",
        _drop_function_response_types,
        rules.check_event_source_mappings,
        "SyncWorkerFunctionLowLane: FunctionResponseTypes",
    ),
    (
        "visibility-below-6x-timeout",
        _short_visibility_timeout,
        rules.check_event_source_mappings,
        "SyncDefaultQueue: VisibilityTimeout 359s < 6 x SyncWorkerFunction Timeout 60s",
    ),
    (
        "worker-timeout-outgrows-queues",
        _longer_worker_timeout,
        rules.check_event_source_mappings,
        "SyncHighQueue: VisibilityTimeout 360s < 6 x SyncWorkerFunction Timeout 90s",
    ),
    (
        "fifo-batch-size-20",
        _fifo_batch_too_big,
        rules.check_event_source_mappings,
        "SyncWorkerFunctionHighLane: BatchSize 20 > 10",
    ),
    (
        "fifo-queue-without-dlq",
        _fifo_queue_without_dlq,
        rules.check_fifo_queues,
        "SyncLowQueue: FIFO source queue has no RedrivePolicy",
    ),
    (
        "new-fifo-queue-without-dlq",
        _new_fifo_queue_without_dlq,
        rules.check_fifo_queues,
        "SyncBulkQueue: FIFO source queue has no RedrivePolicy",
    ),
    (
        "standard-dlq-for-fifo-queue",
        _standard_dlq_for_fifo_queue,
        rules.check_fifo_queues,
        "SyncDefaultQueue: dead-letter queue SyncDefaultDeadLetterQueue is not FIFO",
    ),
    (
        "dlq-without-redrive-allow-policy",
        _dlq_without_redrive_allow_policy,
        rules.check_fifo_queues,
        "SyncHighDeadLetterQueue: dead-letter queue has no RedriveAllowPolicy",
    ),
    (
        "unbounded-concurrency-parameter",
        _unbounded_concurrency_parameter,
        rules.check_concurrency_parameter_bounds,
        "Parameter HighLaneConcurrency (used by SyncWorkerFunctionHighLane): needs MinValue: 2",
    ),
    (
        "tracing-passthrough",
        _tracing_passthrough,
        rules.check_functions,
        "WebhookFunction: TracingConfig.Mode is 'PassThrough'",
    ),
    ("runtime-python3.12", _old_runtime, rules.check_functions, "CleanupFunction: Runtime is 'python3.12'"),
    ("provisioned-table", _provisioned_table, rules.check_tables, "ConflictsTable: BillingMode is 'PROVISIONED'"),
    (
        "idempotency-without-ttl",
        _idempotency_without_ttl,
        rules.check_tables,
        "IdempotencyTable: TimeToLiveSpecification must be enabled",
    ),
    (
        "events-ttl-disabled",
        _events_ttl_disabled,
        rules.check_tables,
        "EventsTable: TimeToLiveSpecification must be enabled",
    ),
    (
        "api-route-without-key",
        _api_route_without_key,
        rules.check_api_keys,
        "HubApi X-AMAZON-APIGATEWAY-ANY-METHOD /api/{proxy+}: must require an API key",
    ),
    (
        "webhook-with-key",
        _webhook_with_key,
        rules.check_api_keys,
        "HubApi POST /webhooks/{provider}/{store}: must NOT require an API key",
    ),
    (
        "key-required-everywhere",
        _key_required_everywhere,
        rules.check_api_keys,
        "HubApi GET /health: must NOT require an API key",
    ),
    (
        "import-every-15-minutes",
        _import_every_15_minutes,
        rules.check_schedules,
        "ScheduledImportFunction: needs an enabled rate(10 minutes) schedule",
    ),
    ("cleanup-hourly", _cleanup_hourly, rules.check_schedules, "CleanupFunction: needs an enabled daily schedule"),
    (
        "reconciliation-without-schedule",
        _reconciliation_without_schedule,
        rules.check_schedules,
        "ReconciliationFunction: needs an enabled weekly schedule (has none)",
    ),
    (
        "reconciliation-disabled",
        _reconciliation_disabled,
        rules.check_schedules,
        "ReconciliationFunction: needs an enabled weekly schedule",
    ),
    ("star-action", _star_action, rules.check_least_privilege, "grants wildcard action '*'"),
    (
        "dynamodb-on-any-table",
        _dynamodb_on_any_table,
        rules.check_least_privilege,
        "dynamodb actions on wildcard resource '*'",
    ),
    ("sqs-service-wildcard", _sqs_service_wildcard, rules.check_least_privilege, "grants wildcard action 'sqs:*'"),
    (
        "secrets-on-every-secret",
        _secrets_on_every_secret,
        rules.check_least_privilege,
        "secretsmanager actions on wildcard resource",
    ),
    (
        "dlq-without-alarm",
        _dlq_without_alarm,
        rules.check_monitoring,
        "SyncLowDeadLetterQueue: no alarm on ApproximateNumberOfMessagesVisible > 0",
    ),
    (
        "alarm-without-action",
        _alarm_without_action,
        rules.check_monitoring,
        "RetryBacklogAlarm: alarm has no AlarmActions",
    ),
    (
        "full-access-managed-policy",
        _full_access_managed_policy,
        rules.check_least_privilege,
        "ReconciliationFunction: managed policy AmazonDynamoDBFullAccess is not in ACCEPTED_MANAGED_POLICIES",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "rule", "expected"), [c[1:] for c in BROKEN_CASES], ids=[c[0] for c in BROKEN_CASES]
)
def test_rule_bites_on_broken_template(
    sam_template: dict[str, Any],
    real_cfn: dict[str, Any],
    tmp_path: Path,
    mutation: Mutation,
    rule: Callable[..., list[str]],
    expected: str,
) -> None:
    # The violation comes from the mutation, not from the real template.
    assert not any(expected in v for v in rule(real_cfn, None))
    violations = rule(broken(sam_template, tmp_path, mutation), None)
    assert any(expected in v for v in violations), f"expected {expected!r} in {violations!r}"


def test_parameter_override_below_range_is_reported() -> None:
    cfn = translate_template(TEMPLATE, {"LowLaneConcurrency": "1"})
    violations = rules.check_event_source_mappings(cfn, {"LowLaneConcurrency": "1"})
    assert violations == ["SyncWorkerFunctionLowLane: ScalingConfig.MaximumConcurrency is 1, must be 2..10"]


@pytest.mark.parametrize(
    ("arn", "wild"),
    [
        ("*", True),
        ("arn:aws:sqs:sa-east-1:123456789012:*", True),
        ("arn:aws:dynamodb:sa-east-1:123456789012:table/*", True),
        ("arn:aws:dynamodb:sa-east-1:123456789012:table/*/index/*", True),
        ("arn:aws:secretsmanager:sa-east-1:123456789012:secret:*", True),
        ("arn:aws:dynamodb:sa-east-1:123456789012:table/X/index/*", False),
        ("arn:aws:secretsmanager:sa-east-1:123456789012:secret:crmhub/dev/*", False),
        ("arn:aws:sqs:sa-east-1:123456789012:crmhub-dev-sync-high.fifo", False),
    ],
)
def test_wildcard_resource_detection(arn: str, wild: bool) -> None:
    assert rules._is_wildcard_resource(arn) is wild


def test_sub_placeholders_are_specific_unless_bound_to_a_literal() -> None:
    sub = {"Fn::Sub": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${q}", {"q": {"Ref": "Q"}}]}
    assert rules._resource_strings(sub) == ["arn:X:sqs:X:X:X"]
    sub = {"Fn::Sub": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${q}", {"q": "*"}]}
    assert rules._is_wildcard_resource(rules._resource_strings(sub)[0])


def test_every_rule_has_a_broken_case() -> None:
    covered = {c[2] for c in BROKEN_CASES}
    assert covered == set(rules.ALL_CHECKS.values())


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("rate(10 minutes)", "rate(10 minutes)"),
        ("rate(1 day)", "daily"),
        ("rate(24 hours)", "daily"),
        ("cron(30 3 * * ? *)", "daily"),
        ("cron(0 4 ? * SUN *)", "weekly"),
        ("rate(7 days)", "weekly"),
        ("cron(0 * * * ? *)", "cron(0 * * * ? *)"),
        ("cron(0 4 ? * MON-FRI *)", "cron(0 4 ? * MON-FRI *)"),
        ("cron(0 4 1 * ? *)", "cron(0 4 1 * ? *)"),
    ],
)
def test_schedule_kind(expression: str, kind: str) -> None:
    assert rules.schedule_kind(expression) == kind
