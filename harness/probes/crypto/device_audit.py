"""One device's TLS and SSH audits, run once per run and concurrently, shared by the checks.

The first check that asks starts every TLS service's audit and the SSH algorithm audit
in the background; each check then waits only for its own service. Every connection
takes a slot of one semaphore per device (`policy.max_connections`), because small
embedded TLS stacks fail under parallel handshakes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from harness.config.profile import Profile, Service
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import ssh_algos, tls_audit
from harness.probes.crypto.attempt import Attempt
from harness.probes.crypto.tls import TlsVersion, default_server_name

T = TypeVar("T")


@dataclass(frozen=True)
class SshAudit:
    """The SSH service's algorithms (one connection) and host keys (one per family), with
    a transcript per connection; the host keys are not attempted when the algorithms
    could not be read."""

    algorithms: Attempt[ssh_algos.ServerAlgorithms]
    keys: Attempt[ssh_algos.HostKeyAudit]
    transcripts: tuple[Transcript, ...]


@dataclass(frozen=True)
class TlsAudit:
    """One TLS service's posture and the transcript of every connection."""

    service: Service
    posture: tls_audit.TlsPosture
    transcript: Transcript


class DeviceCryptoAudit:
    """Lazily started, cached audits of one device; `close` waits for what is running."""

    def __init__(self, profile: Profile, scope: Scope) -> None:
        self.profile = profile
        self.scope = scope
        self.slots = threading.BoundedSemaphore(profile.policy.max_connections)
        self.minimum = TlsVersion.from_policy(profile.policy.tls_min_version)
        self._lock = threading.Lock()
        self._tls: dict[str, Future[TlsAudit]] = {}
        self._ssh: Future[SshAudit] | None = None

    def _start_all(self) -> None:
        with self._lock:
            if self._tls or self._ssh is not None:
                return
            for service in self.profile.tls_services:
                self._tls[service.name] = _in_background(
                    functools.partial(self._audit_tls, service)
                )
            if self.profile.ssh is not None:
                self._ssh = _in_background(self._audit_ssh)

    def tls(self, service: Service) -> TlsAudit:
        """This service's audit (waits for it; never raises a DeviceError)."""
        self._start_all()
        return self._tls[service.name].result()

    def ssh(self) -> SshAudit:
        self._start_all()
        if self._ssh is None:
            raise LookupError("the profile has no ssh section")
        return self._ssh.result()

    def _audit_tls(self, service: Service) -> TlsAudit:
        assert self.profile.network is not None
        host = self.profile.network.host
        transcript = Transcript(f"TLS audit of {service.name} ({host}:{service.port})")
        posture = tls_audit.audit(
            self.scope,
            host,
            service.port,
            [v for v in TlsVersion if v >= self.minimum],
            minimum=self.minimum,
            timeout=self.profile.policy.timeout_s,
            server_name=default_server_name(host, self.profile.tls.server_name),
            slots=self.slots,
            transcript=transcript,
        )
        return TlsAudit(service, posture, transcript)

    def _audit_ssh(self) -> SshAudit:
        profile = self.profile
        assert profile.ssh is not None
        host, port, username = profile.ssh_host, profile.ssh.port, profile.ssh.username
        transcripts: list[Transcript] = []

        def new_transcript(purpose: str) -> Transcript:
            number = len(transcripts) + 1
            transcripts.append(Transcript(f"SSH audit of {host}:{port}, {number}: {purpose}"))
            return transcripts[-1]

        timeout = profile.policy.timeout_s
        algorithms = Attempt.run(
            lambda: self._slot(
                lambda: ssh_algos.read_kexinit(
                    self.scope, host, port, timeout=timeout, transcript=new_transcript("KEXINIT")
                )
            )
        )
        if algorithms.error is not None:
            return SshAudit(algorithms, Attempt.failed(algorithms.error), tuple(transcripts))
        offered = algorithms.result_or_raise().kexinit.host_keys
        keys = Attempt.run(
            lambda: self._slot(
                lambda: ssh_algos.host_keys(
                    self.scope, host, port, offered, username=username, timeout=timeout,
                    new_transcript=new_transcript,
                )
            )
        )  # fmt: skip
        return SshAudit(algorithms, keys, tuple(transcripts))

    def _slot(self, action: Callable[[], T]) -> T:
        with self.slots:
            return action()

    def close(self) -> None:
        """Nothing to wait for: every check waits for the audit it reads, and an audit no
        check read (an interrupted run) ends with the process, its thread a daemon."""


def _in_background(job: Callable[[], T]) -> Future[T]:
    """`job` in a daemon thread of its own: a run stopped by Ctrl-C while an audit waits on
    a silent device exits at once, not after that audit's every timeout."""
    future: Future[T] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the check that reads the audit
                future.set_exception(exc)

    threading.Thread(target=run, name="crypto-audit", daemon=True).start()
    return future
