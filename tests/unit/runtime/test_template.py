"""template.py: CloudFormation tags, intrinsics, parameters, typed model, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.runtime.schedules import parse_expression
from local.runtime.template import TemplateError, load_template, load_yaml, resolve_value

TESTS = Path(__file__).resolve().parents[2]
FIXTURE = TESTS / "fixtures" / "runtime"
TEMPLATE = FIXTURE / "template.yaml"
REAL_TEMPLATE = TESTS.parent / "template.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_short_tags_are_expanded() -> None:
    doc = load_yaml(TEMPLATE)
    env = doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["WORK_QUEUE_URL"] == {"Ref": "WorkQueue"}
    assert env["WORK_QUEUE_ARN"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert env["MODE"] == {"Fn::If": ["IsProd", "strict", "relaxed"]}
    assert doc["AWSTemplateFormatVersion"] == "2010-09-09"  # dates stay strings


def test_environment_resolution_with_defaults() -> None:
    model = load_template(TEMPLATE)
    env = model.functions["ApiFunction"].environment
    assert env == {
        "STAGE": "dev",
        "WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/rt-dev-work.fifo",
        "WORK_QUEUE_NAME": "rt-dev-work.fifo",
        "WORK_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:rt-dev-work.fifo",
        "ITEMS_TABLE": "crmhub-local-ItemsTable",  # no TableName -> <stack>-<LogicalId>
        "NAMED_TABLE": "rt-dev-named",
        "PREFIX": "rt/dev/us-east-1/123456789012",
        "DLQ_NAME": "rt-dev-work-dlq.fifo",
        "MODE": "relaxed",
        "MAX_RECEIVE_COUNT": "2",
    }
    assert model.shared_environment() == env


def test_parameter_overrides_endpoint_and_stack_name() -> None:
    model = load_template(
        TEMPLATE, {"Stage": "prod", "MaxReceiveCount": 7}, stack_name="other", sqs_endpoint="http://127.0.0.1:4566/"
    )
    env = model.functions["WorkerFunction"].environment
    assert env["STAGE"] == "prod"
    assert env["MODE"] == "strict"
    assert env["MAX_RECEIVE_COUNT"] == "7"
    assert env["WORK_QUEUE_URL"] == "http://127.0.0.1:4566/123456789012/rt-prod-work.fifo"
    assert env["ITEMS_TABLE"] == "other-ItemsTable"
    assert model.queues["WorkQueue"].redrive.max_receive_count == 7
    assert model.functions["ApiFunction"].function_name == "rt-prod-api"
    assert model.functions["WorkerFunction"].function_name == "other-WorkerFunction"


def test_typed_model() -> None:
    model = load_template(TEMPLATE)
    worker = model.functions["WorkerFunction"]
    assert worker.module_name == "functions.rt_worker.app"
    assert worker.handler_attribute == "lambda_handler"
    assert (worker.timeout, worker.memory_size) == (5, 256)
    work, plain = worker.sqs_events
    assert (work.queue_logical_id, work.batch_size, work.max_concurrency) == ("WorkQueue", 10, 2)
    assert work.report_batch_item_failures and not plain.report_batch_item_failures
    assert plain.max_concurrency == 2  # Lambda's minimum when ScalingConfig is absent

    api = model.functions["ApiFunction"]
    routes = {(e.path, e.method): e.api_key_required for e in api.api_events}
    assert routes[("/secure/{proxy+}", "ANY")] is True
    assert routes[("/health", "GET")] is False
    hub_api = model.apis["RtApi"]
    assert hub_api.stage_name == "dev"
    assert (hub_api.throttle.rate_limit, hub_api.throttle.burst_limit) == (1.0, 3)
    assert json.loads(hub_api.gateway_responses["INVALID_API_KEY"].body) == {"error": {"code": "invalid_api_key"}}
    assert hub_api.gateway_responses["THROTTLED"].status_code == 429

    tick, daily, legacy = model.functions["CronFunction"].schedule_events
    assert (tick.schedule_name, tick.expression, tick.timezone, tick.type) == (
        "rt-dev-tick",
        "rate(1 minute)",
        "UTC",
        "ScheduleV2",
    )
    assert (daily.expression, daily.timezone) == ("cron(30 3 * * ? *)", "America/Sao_Paulo")
    assert (legacy.type, legacy.input) == ("Schedule", '{"kind": "legacy"}')

    queue = model.queues["WorkQueue"]
    assert queue.fifo and queue.visibility_timeout == 1 and queue.dedup_scope == "messageGroup"
    assert queue.redrive.dlq_logical_id == "WorkDeadLetterQueue"
    assert json.loads(queue.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:rt-dev-work-dlq.fifo",
        "maxReceiveCount": 2,
    }
    assert model.queues["WorkDeadLetterQueue"].redrive_allow_policy == {"redrivePermission": "allowAll"}
    assert model.queues["PlainQueue"].name == "crmhub-local-PlainQueue"
    assert model.queues["PlainQueue"].visibility_timeout == 1

    items = model.tables["ItemsTable"]
    assert items.ttl_attribute == "expires_at"
    assert items.create_kwargs["GlobalSecondaryIndexes"][0]["IndexName"] == "by_status"
    named = model.tables["NamedTable"].create_kwargs
    assert named["BillingMode"] == "PROVISIONED" and named["ProvisionedThroughput"]["ReadCapacityUnits"] == 1


def test_outputs_resolve_on_demand() -> None:
    model = load_template(TEMPLATE)
    outputs = model.raw["Outputs"]
    assert resolve_value(model, outputs["WorkDlqUrl"]["Value"]).endswith("/rt-dev-work-dlq.fifo")
    assert resolve_value(model, outputs["ApiName"]["Value"]) == "crmhub-local-a"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "1"}, "unknown parameter override(s): Nope"),
        ({"Stage": "qa"}, "Parameters.Stage: 'qa' is not one of"),
        ({"MaxReceiveCount": "0"}, "Parameters.MaxReceiveCount: 0 is below MinValue 1"),
        ({"WorkerConcurrency": "many"}, "Parameters.WorkerConcurrency: 'many' is not a number"),
    ],
)
def test_bad_parameter_overrides(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_template(TEMPLATE, overrides)


MINIMAL = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/rt_cron/
      Handler: app.lambda_handler
      Environment:
        Variables:
          X: {value}
"""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!Ref Missing", "Resources.Fn.Properties.Environment.Variables.X: unknown reference 'Missing'"),
        ("!GetAtt Missing.Arn", "Resources.Fn.Properties.Environment.Variables.X: unknown reference 'Missing'"),
        ("!Sub 'a-${Nowhere}'", "Resources.Fn.Properties.Environment.Variables.X: unknown reference 'Nowhere'"),
        ("!Ref AWS::Bogus", "unknown pseudo parameter 'AWS::Bogus'"),
        ("!GetAtt Fn.Nope", "Fn::GetAtt Fn.Nope is not supported locally"),
        ("!ImportValue other-stack", "Fn::ImportValue is not supported by the local runtime"),
        ("!If [NoSuchCondition, a, b]", "unknown condition 'NoSuchCondition'"),
    ],
)
def test_unknown_references_name_the_property(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        load_template(write(tmp_path, MINIMAL.format(value=value)))
    assert message in str(info.value)


def test_sub_with_variables_escapes_and_pseudo_params(tmp_path: Path) -> None:
    value = "!Sub ['${AWS::Partition}:${AWS::URLSuffix}:${Who}:${!Literal}:${AWS::StackName}', {Who: !Ref AWS::Region}]"
    model = load_template(write(tmp_path, MINIMAL.format(value=json.dumps(value)[1:-1])), stack_name="s1")
    assert model.functions["Fn"].environment["X"] == "aws:amazonaws.com:us-east-1:${Literal}:s1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Resources: [unclosed", "invalid YAML (line 1"),
        ("- just\n- a list\n", "must be a mapping at the top level"),
        ("Parameters: {}\n", "has no Resources mapping"),
        ("Resources:\n  X: {Properties: {}}\n", "Resources.X: must be a mapping with a Type"),
        (
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: app.h}\n",
            "Resources.Fn.Properties.CodeUri: required",
        ),
        (
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: q.fifo}\n",
            "Resources.Q.Properties.QueueName: a FIFO queue name must end in .fifo",
        ),
        (
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: {maxReceiveCount: 1}\n",
            "Resources.Q.Properties.RedrivePolicy: needs deadLetterTargetArn and maxReceiveCount",
        ),
        (
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {BillingMode: PAY_PER_REQUEST}\n",
            "Resources.T.Properties.KeySchema: required",
        ),
    ],
)
def test_malformed_templates(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        load_template(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_template_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read template"):
        load_template(tmp_path / "nope.yaml")


def test_sqs_event_must_point_at_a_template_queue(tmp_path: Path) -> None:
    text = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/rt_worker/
      Handler: app.lambda_handler
      Events:
        Q: {Type: SQS, Properties: {Queue: "arn:aws:sqs:us-east-1:123456789012:elsewhere"}}
"""
    pattern = r"Resources\.Fn\.Properties\.Events\.Q\.Properties\.Queue: .* is not the Arn"
    with pytest.raises(TemplateError, match=pattern):
        load_template(write(tmp_path, text))


def test_functions_that_disagree_on_a_variable_are_refused(tmp_path: Path) -> None:
    text = """
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/a/, Handler: app.h, Environment: {Variables: {LEVEL: INFO}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/b/, Handler: app.h, Environment: {Variables: {LEVEL: DEBUG}}}
"""
    model = load_template(write(tmp_path, text))
    with pytest.raises(TemplateError, match="LEVEL is 'INFO' in A but 'DEBUG' in B"):
        model.shared_environment()


def test_real_template_resolves_completely() -> None:
    """The project's template: every function env, queue and table, no handler import."""
    model = load_template(REAL_TEMPLATE, {"Stage": "dev"}, sqs_endpoint="http://127.0.0.1:4566")
    assert model.functions and model.queues and model.tables
    shared = model.shared_environment()  # raises if two functions disagree
    assert shared["STAGE"] == "dev"
    table_names = {t.name for t in model.tables.values()}
    queue_urls = {q.url for q in model.queues.values()}
    for fn in model.functions.values():
        assert all(isinstance(v, str) and "${" not in v for v in fn.environment.values()), fn.logical_id
        assert all(part.isidentifier() for part in fn.module_name.split(".")), fn.module_name
        assert fn.module_name.startswith("functions.") and fn.timeout > 0
        for key, value in fn.environment.items():
            if key.endswith("_TABLE"):
                assert value in table_names, key
            if key.endswith("_QUEUE_URL") or key.endswith("_DLQ_URL"):
                assert value in queue_urls, key
                assert value.startswith("http://127.0.0.1:4566/123456789012/")

    for queue in model.queues.values():
        assert queue.name.endswith(".fifo") == queue.fifo
        assert queue.url == f"http://127.0.0.1:4566/123456789012/{queue.name}"
        if queue.redrive is not None:
            dlq = model.queues[queue.redrive.dlq_logical_id]
            assert dlq.fifo == queue.fifo and queue.redrive.max_receive_count >= 1
            assert json.loads(queue.attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq.arn
        if queue.redrive_allow_policy is not None:
            policy = queue.redrive_allow_policy
            sources = {
                q.arn
                for q in model.queues.values()
                if q.redrive is not None and q.redrive.dlq_logical_id == queue.logical_id
            }
            if policy["redrivePermission"] == "byQueue":
                assert set(policy["sourceQueueArns"]) == sources, queue.logical_id
            else:
                assert policy["redrivePermission"] in ("allowAll", "denyAll")

    for table in model.tables.values():
        kwargs = table.create_kwargs
        assert kwargs["TableName"] == table.name and kwargs["KeySchema"]
        declared = {a["AttributeName"] for a in kwargs["AttributeDefinitions"]}
        used = {k["AttributeName"] for k in kwargs["KeySchema"]}
        for index in kwargs.get("GlobalSecondaryIndexes", []) + kwargs.get("LocalSecondaryIndexes", []):
            used |= {k["AttributeName"] for k in index["KeySchema"]}
        assert declared == used, table.logical_id

    for fn, event in model.sqs_sources():
        assert event.queue_logical_id in model.queues and event.max_concurrency >= 1, fn.logical_id
    for fn, event in model.schedules():
        assert event.schedule_name and event.expression, fn.logical_id
        parse_expression(event.expression, event.timezone)  # raises if the runtime cannot run it
    for fn, event in model.api_routes():
        assert event.rest_api_id in model.apis and event.path.startswith("/"), fn.logical_id
