"""The harness's own tests run in a private network namespace where only loopback exists.

Emulators and real daemons bind to their own 127.x addresses inside it, so a port scan
sees exactly what the test started, and nothing the tests do can reach another host.
"""

from __future__ import annotations

import itertools
import os

import pytest

from harness.core import netns

_ISOLATION: str | None = "not attempted"
_ADDRESSES = itertools.count(2)


def pytest_configure(config: pytest.Config) -> None:
    global _ISOLATION
    _ISOLATION = None if netns.in_private_network() else netns.enter_private_network()
    if _ISOLATION is not None and os.environ.get("MEDSEC_REQUIRE_NETNS"):
        raise pytest.UsageError(f"cannot enter a private network namespace: {_ISOLATION}")


@pytest.fixture(scope="session")
def private_network() -> None:
    """Tests whose verdicts depend on seeing only their own listeners use this."""
    if _ISOLATION is not None:
        pytest.skip(f"needs a private network namespace: {_ISOLATION}")


@pytest.fixture
def loopback_address() -> str:
    """A loopback address no other test in this session uses."""
    n = next(_ADDRESSES)
    return f"127.0.{n // 250}.{n % 250 + 2}"
