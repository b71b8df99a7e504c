"""End-to-end fixtures (helpers live in ``e2e_support``)."""

from collections.abc import Iterator

import pytest

from e2e_support import RunningHub, start_hub, stop_hub


@pytest.fixture(scope="module")
def hub() -> Iterator[RunningHub]:
    running = start_hub("--param", "ApiRateLimitPerSecond=1000", "ApiBurstLimit=1000")
    try:
        yield running
    finally:
        stop_hub(running)
