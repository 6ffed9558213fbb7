"""pytest's per-test state, kept per lane, so that the checks of several lanes run at once.

pytest assumes one test at a time in two places: a function-scoped fixture's value and
finalizers live on its `FixtureDef`, shared by every test that uses the fixture (a second
test set up meanwhile would be handed the first one's `evidence` recorder), and the nodes
set up are one stack (`session._setupstate`). While lanes run, each lane thread has a slot
of its own for both: a function-scoped fixture's value and finalizers live in the lane's
slot, and the test item in the lane's stack. Session and module nodes are set up once,
shared, and torn down when the run ends; a fixture of a wider scope is made by one lane at
a time (a lock), so the one TCP scan, crypto audit and login ledger serve the whole run.

This leans on three pytest internals (`FixtureDef.cached_result` and `_finalizers`,
`session._setupstate`); `supported` says whether the running pytest has them, and the
plugin runs without lanes when it does not. A fourth, `_pytest.runner`'s
`_update_current_test_var`, pops PYTEST_CURRENT_TEST at each test's end: two lanes ending
at once would pop it twice (KeyError in a teardown), so while lanes run it is replaced.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import _pytest.runner
import pytest

MAIN = "main"
_slot = threading.local()
_WIDER_SCOPES = threading.RLock()  # one lane at a time makes a session-scoped fixture


def current_slot() -> str:
    """The lane this thread runs checks for (`main` outside lanes)."""
    return str(getattr(_slot, "name", MAIN))


@contextlib.contextmanager
def in_slot(name: str) -> Iterator[None]:
    """Run with `name`'s fixture values and stack (a lane thread, or the run's end)."""
    previous = current_slot()
    _slot.name = name
    try:
        yield
    finally:
        _slot.name = previous


class _Slot:
    """A function-scoped fixture's value and finalizers in one lane."""

    def __init__(self) -> None:
        self.cached_result: Any = None
        self.finalizers: list[Callable[[], object]] = []


class LaneFixtureDef(pytest.FixtureDef[Any]):
    """A `FixtureDef` whose function-scoped state is per lane (instances are moved to this
    class while lanes run, never made)."""

    def _lane(self) -> _Slot:
        slots: dict[str, _Slot] = self.__dict__.setdefault("_medsec_slots", {})
        return slots.setdefault(current_slot(), _Slot())

    @property
    def cached_result(self) -> Any:
        if self.scope == "function":
            return self._lane().cached_result
        return self.__dict__["cached_result"]

    @cached_result.setter
    def cached_result(self, value: Any) -> None:
        if self.scope == "function":
            self._lane().cached_result = value
        else:
            self.__dict__["cached_result"] = value

    @property  # type: ignore[misc]
    def _finalizers(self) -> list[Callable[[], object]]:
        if self.scope == "function":
            return self._lane().finalizers
        finalizers: list[Callable[[], object]] = self.__dict__["_finalizers"]
        return finalizers

    def execute(self, request: pytest.FixtureRequest) -> Any:
        if self.scope == "function":
            return super().execute(request)  # type: ignore[arg-type]
        with _WIDER_SCOPES:
            return super().execute(request)  # type: ignore[arg-type]


def supported(session: pytest.Session) -> bool:
    """Whether this pytest keeps the state the lanes split where they expect it."""
    manager = getattr(session, "_fixturemanager", None)
    stored = pytest.FixtureDef.__init__.__code__.co_names
    setup_state = getattr(session, "_setupstate", None)
    ours = {name for name in dir(LaneSetupState) if not name.startswith("_")}
    return (
        setup_state is not None
        and {n for n in vars(type(setup_state)) if not n.startswith("_")} <= ours
        and manager is not None
        and _fixture_names(manager) is not None
        and "node" in inspect.signature(manager.getfixturedefs).parameters
        and "cached_result" in stored
        and "_finalizers" in stored
    )


def split_fixtures(session: pytest.Session) -> list[pytest.FixtureDef[Any]]:
    """Move every fixture the session's tests may use to per-lane state; returns them."""
    moved: list[pytest.FixtureDef[Any]] = []
    for fixturedef in _fixturedefs(session):
        if type(fixturedef) is pytest.FixtureDef:
            assert fixturedef.cached_result is None, "lanes start before any fixture is made"
            fixturedef.__class__ = LaneFixtureDef
            moved.append(fixturedef)
    return moved


def join_fixtures(moved: Iterable[pytest.FixtureDef[Any]]) -> None:
    """Give the fixtures back their own class once every lane's state is torn down."""
    for fixturedef in moved:
        fixturedef.__dict__.pop("_medsec_slots", None)
        fixturedef.__class__ = pytest.FixtureDef


def _fixturedefs(session: pytest.Session) -> Iterator[pytest.FixtureDef[Any]]:
    """Every fixture definition a test of the session resolves to, by any name (a check
    may ask for a fixture by name while it runs)."""
    manager = session._fixturemanager
    names = _fixture_names(manager) or ()
    seen: set[int] = set()
    for item in session.items:
        for name in names:
            for fixturedef in manager.getfixturedefs(name, item) or ():
                if id(fixturedef) not in seen:
                    seen.add(id(fixturedef))
                    yield fixturedef
        info = getattr(item, "_fixtureinfo", None)
        for group in info.name2fixturedefs.values() if info is not None else ():
            for fixturedef in group:  # direct parametrization makes fixtures of its own
                if id(fixturedef) not in seen:
                    seen.add(id(fixturedef))
                    yield fixturedef


def _fixture_names(manager: Any) -> Iterable[str] | None:
    """The names of every fixture definition (where pytest 8 and 9 keep them)."""
    for attribute in ("_arg2node2fixturedefs", "_arg2fixturedefs"):
        found = getattr(manager, attribute, None)
        if isinstance(found, dict):
            return list(found)
    return None


Finalizers = list[Callable[[], object]]


class LaneSetupState:
    """`session._setupstate` while lanes run: shared nodes once, each lane's item its own.

    `teardown_exact` tears down only the calling lane's item until `closing` is set (the
    run's end), when it also tears down what interrupted lanes left and then the shared
    nodes, last set up first, as pytest would.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._shared: dict[Any, tuple[Finalizers, BaseException | None]] = {}
        self._items: dict[str, dict[Any, Finalizers]] = {}
        self.closing = False

    def setup(self, item: pytest.Item) -> None:
        chain = item.listchain()
        with self._lock:
            for node in chain[:-1]:
                if node in self._shared:
                    failure = self._shared[node][1]
                    if failure is not None:
                        raise failure
                    continue
                self._shared[node] = ([node.teardown], None)
                try:
                    node.setup()
                except Exception as exc:
                    self._shared[node] = (self._shared[node][0], exc)
                    raise
        stack = self._items.setdefault(current_slot(), {})
        assert not stack, f"the lane's previous check was not torn down: {list(stack)}"
        stack[item] = [item.teardown]
        item.setup()

    @property
    def stack(self) -> dict[Any, object]:
        """The nodes set up for the calling lane: the shared ones and its item."""
        return {**self._shared, **self._items.get(current_slot(), {})}

    def is_node_active(self, node: Any) -> bool:
        return node in self._items.get(current_slot(), {}) or node in self._shared

    def addfinalizer(self, finalizer: Callable[[], object], node: Any) -> None:
        stack = self._items.get(current_slot(), {})
        if node in stack:
            stack[node].append(finalizer)
            return
        with self._lock:
            assert node in self._shared, (node, list(self._shared))
            self._shared[node][0].append(finalizer)

    def teardown_exact(self, nextitem: pytest.Item | None) -> None:
        if not self.closing:
            _run_all(self._items.pop(current_slot(), {}))
            return
        failures: list[BaseException] = []
        for slot, stack in list(self._items.items()):
            with in_slot(slot):
                failures += _run_all(stack, raising=False)
        self._items.clear()
        with self._lock:
            nodes = {node: finalizers for node, (finalizers, _) in reversed(self._shared.items())}
            self._shared.clear()
        failures += _run_all(nodes, raising=False)
        if failures:
            raise failures[0]


def _run_all(stack: dict[Any, Finalizers], *, raising: bool = True) -> list[BaseException]:
    """Each node's finalizers, last added first, nodes in the order given. Every one runs;
    the first failure is raised at the end (pytest raises them as a group), or returned."""
    failures: list[BaseException] = []
    for finalizers in stack.values():
        while finalizers:
            try:
                finalizers.pop()()
            except BaseException as exc:  # a teardown's failure must not skip the next one
                failures.append(exc)
    if failures and raising:
        raise failures[0]
    return failures


def _current_test_var_in_lanes(item: pytest.Item, when: str | None) -> None:
    """PYTEST_CURRENT_TEST as pytest sets it, removed only if still there."""
    if when:
        os.environ["PYTEST_CURRENT_TEST"] = f"{item.nodeid} ({when})".replace("\x00", "(null)")
    else:
        os.environ.pop("PYTEST_CURRENT_TEST", None)


@contextlib.contextmanager
def current_test_var_for_lanes() -> Iterator[None]:
    """While lanes run, pytest's PYTEST_CURRENT_TEST updates tolerate each other."""
    original = getattr(_pytest.runner, "_update_current_test_var", None)
    if original is None:  # a pytest that no longer keeps it there
        yield
        return
    _pytest.runner._update_current_test_var = _current_test_var_in_lanes
    try:
        yield
    finally:
        _pytest.runner._update_current_test_var = original
