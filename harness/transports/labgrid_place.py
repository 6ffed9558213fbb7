"""A labgrid place: acquired from its coordinator for one run, read, released at the end.

Only this module imports labgrid, and only when a profile names a place (the `labgrid`
extra: `pip install 'medsec-harness[labgrid]'`). labgrid's client is asyncio over gRPC and
waits on the coordinator without limit; here every call to it runs in an event loop of
our own under `asyncio.wait_for`. The coordinator's address and every address the place
gives us (its serial port, its power switch) are checked against the scope before
anything is sent to them, and the console is opened at the checked address.

What the place gave us is a `PlaceInfo`: the console's `rfc2217://ADDRESS:PORT` (from its
`NetworkSerialPort`) and, where it has a `NetworkPowerPort` this harness drives, the power
port a reset power-cycles.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.core.errors import MedsecError, OutOfScope
from harness.core.scope import IPAddress, Scope
from harness.transports.power import PowerPort, power_port

INSTALL = "pip install 'medsec-harness[labgrid]'"
_T = TypeVar("_T")


class LabgridMissing(MedsecError):
    """The profile names a labgrid place and labgrid is not installed."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "the profile names a labgrid place (labgrid:), but labgrid cannot be imported "
            f"({detail}): install the `labgrid` extra, `{INSTALL}` (in a venv of its own: "
            "see the README, 'Shared lab hardware (labgrid)')"
        )


def missing() -> LabgridMissing | None:
    """Why a run cannot acquire a place here (labgrid is not installed), or None."""
    import importlib.util

    try:
        found = importlib.util.find_spec("labgrid.remote.client") is not None
    except ImportError as exc:
        return LabgridMissing(str(exc))
    return None if found else LabgridMissing("no module named 'labgrid'")


class PlaceUnavailable(MedsecError):
    """The coordinator, the place or its resources cannot give us a console."""


@dataclass(frozen=True)
class PlaceInfo:
    """What an acquired place gave the run."""

    place: str
    coordinator: str  # as profiled, HOST:PORT
    coordinator_address: str  # the address checked and connected to
    acquired_by: str  # labgrid's HOST/USER the place is acquired for
    serial_url: str  # rfc2217://ADDRESS:PORT, the address checked
    serial_resource: str  # EXPORTER/GROUP/NetworkSerialPort/NAME
    baudrate: int
    power: PowerPort | None
    power_note: str  # which power port a reset uses, or why none

    def summary(self) -> dict[str, Any]:
        """For results.json."""
        return {
            "place": self.place,
            "coordinator": self.coordinator,
            "coordinator_address": self.coordinator_address,
            "acquired_by": self.acquired_by,
            "serial_url": self.serial_url,
            "serial_resource": self.serial_resource,
            "baudrate": self.baudrate,
            "power": self.power.described if self.power else None,
            "power_note": self.power_note,
        }


def split_host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` -> (host, port); ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host.strip("[]"), int(port)


def _joined(address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def place_from_resources(
    place: str,
    coordinator: str,
    coordinator_address: str,
    acquired_by: str,
    resources: Mapping[str, tuple[str, Mapping[str, Any]]],
    scope: Scope,
) -> PlaceInfo:
    """The console and power port of an acquired place, scope-checked.

    `resources`: resource path (EXPORTER/GROUP/CLASS/NAME) -> (class, parameters).
    """
    serial = sorted(p for p, (cls, _) in resources.items() if cls == "NetworkSerialPort")
    if not serial:
        found = ", ".join(sorted(resources)) or "none"
        raise PlaceUnavailable(
            f"labgrid place {place!r} has no NetworkSerialPort (its resources: {found})"
        )
    if len(serial) > 1:
        raise PlaceUnavailable(
            f"labgrid place {place!r} has {len(serial)} NetworkSerialPorts ({', '.join(serial)}): "
            "the harness cannot tell which is the device's console"
        )
    path = serial[0]
    params = resources[path][1]
    protocol = params.get("protocol", "rfc2217")
    if protocol != "rfc2217":
        raise PlaceUnavailable(f"{path}: protocol {protocol!r}; the harness speaks rfc2217 only")
    if (params.get("extra") or {}).get("proxy_required"):
        raise PlaceUnavailable(
            f"{path}: the exporter runs isolated (reachable only through an SSH proxy), "
            "which this harness does not set up"
        )
    host, port = str(params.get("host", "")), params.get("port")
    if not host or not isinstance(port, int):
        raise PlaceUnavailable(f"{path}: no host and port in {dict(params)}")
    address = _resolve(scope, host, f"the serial port of labgrid place {place!r}", path)
    power, note = _power(place, resources, scope)
    return PlaceInfo(
        place=place,
        coordinator=coordinator,
        coordinator_address=coordinator_address,
        acquired_by=acquired_by,
        serial_url=f"rfc2217://{_joined(address, port)}",
        serial_resource=path,
        baudrate=int(params.get("speed", 115200)),
        power=power,
        power_note=note,
    )


def _resolve(scope: Scope, host: str, what: str, resource: str) -> IPAddress:
    """`host`'s address, refused (naming `what`) outside the scope; `resource` names a
    host that does not resolve."""
    try:
        return scope.resolve(host)
    except OutOfScope as exc:
        raise OutOfScope(f"{exc.address} ({what})", scope.describe()) from None
    except ValueError as exc:
        raise PlaceUnavailable(f"{resource}: {exc}") from None


def _power(
    place: str, resources: Mapping[str, tuple[str, Mapping[str, Any]]], scope: Scope
) -> tuple[PowerPort | None, str]:
    ports = sorted(p for p, (cls, _) in resources.items() if cls == "NetworkPowerPort")
    if not ports:
        return None, "the place has no NetworkPowerPort: a reset types serial.reset_command"
    if len(ports) > 1:
        return None, f"the place has {len(ports)} NetworkPowerPorts: none is used"
    params = resources[ports[0]][1]
    found = power_port(
        str(params.get("model", "")), str(params.get("host", "")), int(params.get("index", 0)),
        ports[0],
    )  # fmt: skip
    if isinstance(found, str):
        return None, f"{found}: a reset types serial.reset_command"
    _resolve(scope, found.host(), f"the power switch of labgrid place {place!r}", ports[0])
    return found, f"a reset power-cycles {found.described}"


class PlaceLease:
    """An acquired place. `release()` gives it back, bounded in time; safe to call twice."""

    def __init__(self, client: _Client, info: PlaceInfo) -> None:
        self._client = client
        self.info = info
        self.released: str | None = None  # what release() did, once it ran

    def release(self) -> str:
        if self.released is None:
            self.released = self._client.release(self.info.place)
        return self.released


class _Client:
    """labgrid's ClientSession in an event loop of our own; every await is bounded."""

    def __init__(self, address: str, timeout: float) -> None:
        if (why := missing()) is not None:
            raise why
        try:
            import grpc  # labgrid's own dependency
            from labgrid.remote import client as lg_client
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
        except ImportError as exc:
            raise LabgridMissing(str(exc)) from None
        self._lg = lg_client
        self._rpc_error: type[Exception] = grpc.aio.AioRpcError
        self._pb2 = pb2
        self.address = address
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._session: Any = None
        self.acquire_sent = False

    def _run(self, awaitable: Awaitable[_T], what: str) -> _T:
        async def bounded() -> _T:
            return await asyncio.wait_for(awaitable, self.timeout)

        try:
            return self._loop.run_until_complete(bounded())
        except asyncio.TimeoutError:
            raise PlaceUnavailable(
                f"labgrid coordinator {self.address}: no answer to {what} in {self.timeout:.0f}s"
            ) from None

    def connect(self) -> None:
        async def start() -> Any:
            session = self._lg.ClientSession(self.address, asyncio.get_running_loop())
            self._session = session
            await session.start()
            return session

        try:
            self._run(start(), "the session start")
        except self._lg.Error as exc:
            raise PlaceUnavailable(f"labgrid coordinator {self.address}: {exc}") from None

    @property
    def user(self) -> str:
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    def acquire(self, name: str) -> Mapping[str, tuple[str, Mapping[str, Any]]]:
        """Acquire the place `name` (exactly that name); its resources by path."""
        session = self._session
        place = session.places.get(name)
        if place is None:
            known = ", ".join(sorted(session.places)) or "none"
            raise PlaceUnavailable(
                f"labgrid coordinator {self.address} has no place {name!r} (places: {known})"
            )
        if place.acquired:
            raise PlaceUnavailable(f"labgrid place {name!r} is acquired by {place.acquired}")
        try:
            session.check_matches(place)
        except self._lg.Error as exc:
            raise PlaceUnavailable(f"labgrid place {name!r}: {exc}") from None
        request = self._pb2.AcquirePlaceRequest(placename=name)
        self.acquire_sent = True
        try:
            self._run(session.stub.AcquirePlace(request), "AcquirePlace")
        except self._rpc_error as exc:
            self.acquire_sent = False  # refused: nothing to give back
            raise PlaceUnavailable(f"labgrid place {name!r}: {_details(exc)}") from None
        self._run(session.sync_with_coordinator(), "a sync after AcquirePlace")
        place = session.places.get(name)
        if place is None or place.acquired != self.user:
            holder = place.acquired if place else "nobody (the place is gone)"
            raise PlaceUnavailable(f"labgrid place {name!r}: acquired by {holder}, not {self.user}")
        try:
            entries = session.get_target_resources(place)
        except self._lg.Error as exc:
            raise PlaceUnavailable(f"labgrid place {name!r}: {exc}") from None
        found: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for path in place.acquired_resources:
            exporter, group, cls, resource = path
            match = place.getmatch(path)
            alias = match.rename if match is not None and match.rename else resource
            entry = entries.get((alias, cls))
            if entry is not None:
                found[f"{exporter}/{group}/{cls}/{resource}"] = (entry.cls, dict(entry.params))
        return found

    def release(self, name: str) -> str:
        """Give the place back (if the request to acquire it went out), then close."""
        outcome = "not acquired"
        try:
            if self.acquire_sent and self._session is not None:
                request = self._pb2.ReleasePlaceRequest(placename=name)
                try:
                    self._run(self._session.stub.ReleasePlace(request), "ReleasePlace")
                    outcome = "released"
                except self._rpc_error as exc:
                    outcome = f"release refused: {_details(exc)}"
                except PlaceUnavailable as exc:
                    outcome = f"release not confirmed: {exc}"
                self.acquire_sent = outcome != "released"
        finally:
            self.close()
        return outcome

    def close(self) -> None:
        """Stop the session's stream and close the channel, each bounded; close the loop."""
        if self._loop.is_closed():
            return
        session, self._session = self._session, None
        try:
            if session is not None:
                for step, what in ((session.stop, "the session stop"), (session.close, "close")):
                    with contextlib.suppress(PlaceUnavailable, self._lg.Error, OSError):
                        self._run(step(), what)
        finally:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(BaseException):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()


def _details(exc: Exception) -> str:
    """A gRPC error's message from the coordinator."""
    details = getattr(exc, "details", None)
    return str(details() if callable(details) else exc)


def acquire(place: str, coordinator: str, scope: Scope, *, timeout: float) -> PlaceLease:
    """Acquire `place` on `coordinator` (HOST:PORT, checked against `scope`).

    Whatever goes wrong after the request to acquire went out (an error, an address out of
    scope, Ctrl-C), the place is released again before the error propagates.
    """
    host, port = split_host_port(coordinator)
    try:
        address = scope.resolve(host)
    except OutOfScope as exc:
        raise OutOfScope(f"{exc.address} (labgrid.coordinator)", scope.describe()) from None
    except ValueError as exc:
        raise PlaceUnavailable(f"labgrid.coordinator: {exc}") from None
    client = _Client(_joined(address, port), timeout)
    try:
        client.connect()
        resources = client.acquire(place)
        info = place_from_resources(
            place, coordinator, client.address, client.user, resources, scope
        )
    except BaseException:
        client.release(place)
        raise
    return PlaceLease(client, info)
