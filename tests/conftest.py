"""Shared fixtures. AWS is moto in-process (``mock_aws``) with every queue and table
built from ``template.yaml`` itself, so tests cannot drift from the infrastructure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from support import ROOT, Aws, LambdaContext

# Before anything imports boto3/Powertools: no real AWS, no X-Ray, quiet metrics.
os.environ.update(
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_DEV="false",
    POWERTOOLS_METRICS_NAMESPACE="CrmHubTests",
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under ``--dist loadgroup`` pytest-xdist keeps an ``xdist_group`` on one worker by
    suffixing its tests' ids with ``@group``. If a pytest/xdist pairing stops doing that, the
    e2e modules' tests are split between workers, each with its own hub: stop loudly
    instead of failing at random."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    grouped_dirs = ("tests/e2e/", "tests/browser/")
    if any(i.startswith(grouped_dirs) for i in ids) and not any("@" in i for i in ids):
        pytest.exit(
            "pytest-xdist did not group the e2e tests (no '@group' in their ids): this pytest and "
            "pytest-xdist pairing breaks --dist loadgroup; see the pin in pyproject.toml",
            returncode=4,
        )


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto with the template's queues and tables; settings and tables bound to them."""
    import boto3
    from moto import mock_aws

    from crmhub import bootstrap
    from crmhub.settings import get_settings
    from local.runtime.aws import install_moto_patches, uninstall_moto_patches
    from local.runtime.template import load_template

    model = load_template(ROOT / "template.yaml", {"Stage": "dev"})
    install_moto_patches()  # atomic conditional writes under threads, as on AWS
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        queue_urls: dict[str, str] = {}
        for logical_id, queue in sorted(model.queues.items(), key=lambda kv: kv[1].redrive is not None):
            queue_urls[logical_id] = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)["QueueUrl"]
        for table in model.tables.values():
            ddb.create_table(**table.create_kwargs)
        env = model.shared_environment()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        _clear_client_caches()
        bootstrap.init()
        try:
            yield Aws(env=env, queue_urls=queue_urls, table_names={k: t.name for k, t in model.tables.items()})
        finally:
            uninstall_moto_patches()
    get_settings.cache_clear()
    _clear_client_caches()


def _clear_client_caches() -> None:
    """Per-container clients must be rebuilt inside each test's mock."""
    from crmhub.api import common

    common.sync_queue.cache_clear()
    common.credential_store.cache_clear()


@pytest.fixture
def cold_start(aws: Aws):
    """Import (or re-import) a handler module inside this test's AWS, like a cold start."""
    import importlib
    import sys

    def load(function: str) -> Any:
        name = f"functions.{function}.app"
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)

    return load
