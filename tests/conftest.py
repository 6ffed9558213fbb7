"""The harness's own tests run in a private network namespace where only loopback exists.

Emulators and real daemons bind to their own 127.x addresses inside it, so a port scan
sees exactly what the test started, and nothing the tests do can reach another host.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from harness.core import netns
from tests.integration.pump_runs import SHARING_MODULES

SHARED_SCOPES = {module: "pump-runs" for module in SHARING_MODULES}

_ISOLATION: str | None = "not attempted"
_ADDRESSES = itertools.count(2)
# Under `-n N --dist loadgroup` whole modules are the units of work (their module fixtures
# start a daemon or an emulator once). The longest go out first, so that no worker starts
# one of them last; measured with --durations on the 2-core CI machine, longest first.
LONGEST_MODULES = (
    "integration/test_emulator_verdicts.py",  # with test_compare_merge: the pump-runs group
    "integration/test_runs.py",
    "integration/test_auth_real.py",
    "integration/test_report_browser.py",
    "integration/test_crypto_daemons.py",
    "integration/test_init.py",
    "integration/test_ser2net_console.py",
    "integration/test_robust_daemons.py",
    "integration/test_mosquitto.py",
    "integration/test_crypto_faults.py",
    "integration/test_uboot.py",
    "integration/test_sim.py",
)


def pytest_configure(config: pytest.Config) -> None:
    global _ISOLATION
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Each worker gets a namespace of its own, although the controller's already is
        # one: the tests' fixed and counted 127.x addresses repeat from worker to worker.
        # (The worker's other thread only carries its pipe to the controller.)
        _ISOLATION = netns.enter_private_network(threads_ok=True)
    else:
        _ISOLATION = None if netns.in_private_network() else netns.enter_private_network()
    if _ISOLATION is not None and os.environ.get("MEDSEC_REQUIRE_NETNS"):
        raise pytest.UsageError(f"cannot enter a private network namespace: {_ISOLATION}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest modules first, each module's tests in their order."""
    rank = {name: index for index, name in enumerate(LONGEST_MODULES)}

    def module_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0].removeprefix("tests/")

    items.sort(key=lambda item: rank.get(module_of(item), len(rank)))  # stable: keeps order


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which may be absent
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `-n N`: whole modules go to a worker (their module fixtures start a daemon or an
    emulator once), the modules that share the session's pump runs together, in the order
    collected (longest first). xdist's own `loadgroup` would do the grouping, but its group
    marks do not reach the node ids under pytest 9."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_SCOPES.get(module, module)

    config.option.loadscopereorder = False  # keep LONGEST_MODULES' order, not test counts
    return ModuleScheduling(config, log)


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
