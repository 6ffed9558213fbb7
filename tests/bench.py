"""Benchmarks of each probe family against the established tool for the same job.

    python -m tests.bench [all|scan|udp|tls|ssh-auth|crypto|fuzz] [--rounds N]
    python -m tests.bench report [--sizes 500,1000,5000]   (see tests/bench_report.py)
    python -m tests.bench fleet [--pumps 50] [--jobs 8] [--lanes N] [--keep DIR]
        (see tests/bench_fleet.py)

Runs inside a private network namespace against the vulnerable emulated pump (so the
peer tools have something to find), in one run: our TCP scan vs nmap, our UDP sweep vs
nmap -sU (against real UDP daemons on the pump's address), our TLS version
probe vs sslyze, our SSH default-credential probe vs hydra; `crypto`: the TLS suite
and SSH algorithm audits, and the CRYPTO checks as `medsec run` runs them, vs sslyze and
ssh-audit on real `openssl s_server` and `sshd`. Connections are counted by a
forwarding proxy in front of the service, so both tools are measured the same way.
Peer tools: `apt-get install nmap hydra`; sslyze in its own venv (its pins clash with
ours): `python3 -m venv /opt/sslyze-venv && /opt/sslyze-venv/bin/pip install sslyze`,
or point $MEDSEC_BENCH_SSLYZE at its executable. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

from harness.config.profile import Service, load_profile
from harness.core import netns
from harness.core.deadline import Deadline
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes import liveness
from harness.probes.auth import credentials
from harness.probes.crypto import ssh_algos, tls, tls_audit
from harness.probes.robust import fuzz_session
from harness.probes.robust.fuzz_corpus import exchanges_for
from harness.probes.robust.fuzz_engine import FuzzLimits
from harness.probes.robust.fuzz_wire import FuzzTarget
from harness.probes.surface import udp_exposure
from harness.reporting import results
from harness.sim.pump import EmulatedPump, SimConfig
from harness.sim.weaknesses import PLANTED
from harness.transports import net

HOST = "127.0.8.2"
PROXY_HOST = "127.0.8.3"
SCOPE = Scope.of(["127.0.8.0/24"])


@dataclass
class Row:
    family: str
    tool: str
    seconds: float
    connections: int | None
    found: str


class CountingProxy:
    """Forwards TCP to a target and counts the connections it accepts."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.count = 0
        self._listener = socket.create_server((PROXY_HOST, 0), backlog=512)
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.count += 1
            threading.Thread(target=self._pipe_both, args=(client,), daemon=True).start()

    def _pipe_both(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        self.count = 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()


def timed(action: Callable[[], str], rounds: int) -> tuple[float, str]:
    """Median wall time of `rounds` runs, and what the last run found."""
    times, found = [], ""
    for _ in range(rounds):
        started = time.perf_counter()
        found = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), found


def bench_scan(pump: EmulatedPump, rounds: int) -> list[Row]:
    def ours() -> str:
        result = net.scan_tcp(
            SCOPE,
            HOST,
            range(1, 65536),
            concurrency=256,
            connect_timeout=1.0,
            deadline=Deadline(120),
        )
        return ",".join(map(str, result.open))

    rows = [Row("TCP scan, 65535 ports", "medsec scan_tcp (connect)", *_pair(timed(ours, rounds)))]
    nmap = shutil.which("nmap")
    for flag, label in (("-sT", "nmap -sT (connect)"), ("-sS", "nmap -sS (SYN, root)")):
        if nmap is None or (flag == "-sS" and os.geteuid() != 0):
            rows.append(Row("TCP scan, 65535 ports", label, float("nan"), None, "not installed"))
            continue

        def peer(flag: str = flag) -> str:
            out = subprocess.run(
                [nmap, flag, "-p-", "-n", "-Pn", "-T4", "-oG", "-", HOST],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            ).stdout
            return ",".join(re.findall(r"(\d+)/open", out))

        rows.append(Row("TCP scan, 65535 ports", label, *_pair(timed(peer, rounds))))
    return rows


def _pair(result: tuple[float, str]) -> tuple[float, None, str]:
    return result[0], None, result[1]


def bench_tls(pump: EmulatedPump, rounds: int) -> list[Row]:
    proxy = CountingProxy((HOST, pump.endpoints.https_port))
    try:

        def ours() -> str:
            accepted = [
                v.label
                for v in tls.TlsVersion
                if tls.probe_version(
                    SCOPE,
                    PROXY_HOST,
                    proxy.port,
                    v,
                    timeout=5,
                    server_name=None,
                    transcript=Transcript("bench"),
                ).accepted
            ]
            return ", ".join(accepted)

        rows = [_counted("TLS versions", "medsec CRYPTO-001 probe", proxy, ours, rounds)]
        sslyze = (
            os.environ.get("MEDSEC_BENCH_SSLYZE")
            or shutil.which("sslyze")
            or (
                "/opt/sslyze-venv/bin/sslyze"
                if Path("/opt/sslyze-venv/bin/sslyze").exists()
                else None
            )
        )
        if sslyze is None:
            rows.append(Row("TLS versions", "sslyze", float("nan"), None, "not installed"))
            return rows

        def peer() -> str:
            out = subprocess.run(
                [
                    sslyze,
                    "--sslv2",
                    "--sslv3",
                    "--tlsv1",
                    "--tlsv1_1",
                    "--tlsv1_2",
                    "--tlsv1_3",
                    f"{PROXY_HOST}:{proxy.port}",
                ],
                capture_output=True,
                text=True,
                timeout=600,
            ).stdout
            names = {
                "SSL 2.0": "SSLv2",
                "SSL 3.0": "SSLv3",
                "TLS 1.0": "TLS 1.0",
                "TLS 1.1": "TLS 1.1",
                "TLS 1.2": "TLS 1.2",
                "TLS 1.3": "TLS 1.3",
            }
            found = [
                names[m.group(1)]
                for m in re.finditer(
                    r"\* (SSL 2\.0|SSL 3\.0|TLS 1\.[0-3]) Cipher Suites:\n\s+Attempted"
                    r" to connect using \d+ cipher suites\.\n\n\s+The server accepted",
                    out,
                )
            ]
            return ", ".join(found)

        rows.append(
            _counted("TLS versions", "sslyze (per-version suite scans)", proxy, peer, rounds)
        )
        return rows
    finally:
        proxy.close()


def _counted(
    family: str, tool: str, proxy: CountingProxy, action: Callable[[], str], rounds: int
) -> Row:
    return _counted_all(family, tool, (proxy,), action, rounds)


def _counted_all(
    family: str,
    tool: str,
    proxies: tuple[CountingProxy, ...],
    action: Callable[[], str],
    rounds: int,
) -> Row:
    """Median wall time, and the connections every proxy accepted per round."""
    for proxy in proxies:
        proxy.reset()
    seconds, found = timed(action, rounds)
    return Row(family, tool, seconds, round(sum(p.count for p in proxies) / rounds), found)


def bench_ssh_auth(pump: EmulatedPump, rounds: int) -> list[Row]:
    pairs = credentials.candidate_pairs([], per_account=4)
    proxy = CountingProxy((HOST, pump.endpoints.ssh_port))
    try:

        def ours() -> str:
            trial = credentials.try_ssh(
                SCOPE,
                PROXY_HOST,
                proxy.port,
                pairs,
                timeout=10,
                deadline=Deadline(120),
                new_transcript=lambda _label: Transcript("bench"),
            )
            return ", ".join(f"{a.username}/{a.password_shown}" for a in trial.accepted)

        rows = [
            _counted(
                f"SSH default credentials ({len(pairs)} pairs)",
                "medsec AUTH-001 probe",
                proxy,
                ours,
                rounds,
            )
        ]
        hydra = shutil.which("hydra")
        if hydra is None:
            rows.append(Row(rows[0].family, "hydra", float("nan"), None, "not installed"))
            return rows
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
            listing.write("".join(f"{p.username}:{p.password}\n" for p in pairs))

        def peer() -> str:
            out = subprocess.run(
                [hydra, "-C", listing.name, "-t", "4", "-s", str(proxy.port), PROXY_HOST, "ssh"],
                capture_output=True,
                text=True,
                timeout=600,
            ).stdout
            return ", ".join(
                f"{u}/{p[:2]}***" for u, p in re.findall(r"login: (\S+)\s+password: (\S*)", out)
            )

        rows.append(_counted(rows[0].family, "hydra -t 4", proxy, peer, rounds))
        os.unlink(listing.name)
        return rows
    finally:
        proxy.close()


def bench_crypto(pump: EmulatedPump, rounds: int) -> list[Row]:
    """Our TLS suite enumeration vs sslyze, our SSH algorithm audit vs ssh-audit, and the
    CRYPTO-001…009 checks as `medsec run` runs them vs sslyze + ssh-audit asked the same
    questions, against real `openssl s_server` (weak: everything OpenSSL 3 still builds) and
    `sshd` (weak)."""
    from tests.integration import crypto_daemons as real

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as running:
        base = Path(folder)
        pki = real.make_pki(base, PROXY_HOST)  # the name CRYPTO-006 expects: the proxy's
        tls_proxy = CountingProxy(
            (HOST, running.enter_context(real.tls_server(HOST, base, pki, "weak")))
        )
        running.callback(tls_proxy.close)
        rows += _tls_suite_rows(real, tls_proxy, base, rounds)
        if os.geteuid() != 0 or not Path("/usr/sbin/sshd").is_file():
            return rows
        ssh_proxy = CountingProxy(
            (HOST, running.enter_context(real.ssh_server(HOST, base / "sshd", "weak")))
        )
        running.callback(ssh_proxy.close)
        rows += _ssh_algorithm_rows(real, ssh_proxy, rounds)
        rows += _crypto_check_rows(real, pki.ca, tls_proxy, ssh_proxy, base, rounds)
    with tempfile.TemporaryDirectory() as folder:  # the daemons on the pump's address are gone
        rows.append(_emulator_crypto_row(pump, Path(folder), rounds))
    return rows


def _tls_suite_rows(real: ModuleType, proxy: CountingProxy, base: Path, rounds: int) -> list[Row]:
    def ours() -> str:
        posture = tls_audit.audit(
            SCOPE, PROXY_HOST, proxy.port, list(tls.TlsVersion),
            minimum=tls.TlsVersion.SSL3, timeout=5, server_name=None,
            slots=threading.BoundedSemaphore(2), transcript=Transcript("bench"),
            extras=False,
        )  # fmt: skip
        return ", ".join(f"{v.version.label} {len(v.accepted)}" for v in posture.versions)

    def peer() -> str:
        found = real.sslyze_suites(PROXY_HOST, proxy.port, base)
        return ", ".join(f"{tls.TlsVersion(v).label} {len(names)}" for v, names in found.items())

    family = "TLS suites per version (s_server weak)"
    return [
        _counted(family, "medsec tls_audit (remove-and-retry)", proxy, ours, rounds),
        _counted(family, "sslyze --sslv3 ... --tlsv1_3", proxy, peer, rounds),
    ]


def _ssh_algorithm_rows(real: ModuleType, proxy: CountingProxy, rounds: int) -> list[Row]:
    def ours() -> str:
        found = ssh_algos.read_kexinit(
            SCOPE, PROXY_HOST, proxy.port, timeout=5, transcript=Transcript("b")
        )
        lists = found.kexinit.judged()
        return f"{sum(len(lists[k]) for k in real.SSH_KINDS)} algorithms"

    def peer() -> str:
        found = real.ssh_audit_lists(PROXY_HOST, proxy.port)
        names = [n for v in found.values() for n in v]
        real_names = [n for n in names if not ssh_algos.is_pseudo_algorithm(n)]
        return f"{len(real_names)} algorithms (+{len(names) - len(real_names)} pseudo)"

    family = "SSH algorithm lists (sshd weak)"
    return [
        _counted(family, "medsec read_kexinit", proxy, ours, rounds),
        _counted(family, "ssh-audit -j", proxy, peer, rounds),
    ]


# The checks CRYPTO-001…009 by test name: all of test_encryption.py but the cleartext
# probes (010, 011) and the device-as-client check (012).
CRYPTO_001_009 = "not cleartext and not validates_its_tls_server"
SSLYZE_VERSIONS = ("--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3")
# What sslyze needs to answer every question CRYPTO-001…007 asks.
SSLYZE_SAME_QUESTIONS = (
    *SSLYZE_VERSIONS, "--certinfo", "--elliptic_curves", "--compression", "--reneg", "--fallback",
)  # fmt: skip


def _crypto_check_rows(
    real: ModuleType, ca: Path, tls_proxy: CountingProxy, ssh_proxy: CountingProxy, base: Path,
    rounds: int,
) -> list[Row]:  # fmt: skip
    """The checks as `medsec run` runs them (their span inside the run, and the whole
    process) vs the peers one after the other: sslyze's suite scans + ssh-audit, and
    sslyze with every command that answers a question of CRYPTO-001…007 + ssh-audit."""
    profile = base / "crypto.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "schema": "medsec/profile/v1",
                "device": {"name": "bench", "vendor": "OpenSSL", "model": "lo", "firmware": "-"},
                "scope": {"allow": ["127.0.8.0/24"]},
                "network": {
                    "host": PROXY_HOST,
                    "expected_tcp": [tls_proxy.port, ssh_proxy.port],
                    "services": [{"name": "s_server", "port": tls_proxy.port, "protocol": "https"}],
                },
                "tls": {"ca_file": str(ca)},
                "ssh": {"host": PROXY_HOST, "port": ssh_proxy.port, "username": "nobody-medsec"},
            }
        )
    )
    spans: list[float] = []

    def medsec_run(*select: str) -> Callable[[], str]:
        return lambda: _crypto_run(profile, base, spans, *select)

    def peers(sslyze_commands: tuple[str, ...]) -> Callable[[], str]:
        def run() -> str:
            subprocess.run(
                [real.peer("sslyze"), f"--json_out={base / 'sslyze.json'}", *sslyze_commands,
                 f"{PROXY_HOST}:{tls_proxy.port}"],
                capture_output=True, timeout=600, check=False,
            )  # fmt: skip
            found = real.ssh_audit_lists(PROXY_HOST, ssh_proxy.port)
            return f"ssh-audit: {sum(map(len, found.values()))} algorithms"

        return run

    both = (tls_proxy, ssh_proxy)
    family = "CRYPTO-001…009 (s_server weak + sshd weak)"
    process = _counted_all(family, "medsec run --suite crypto -k <001…009>: the process",
                           both, medsec_run("--", "-k", CRYPTO_001_009), rounds)  # fmt: skip
    span = statistics.median(spans)
    return [
        Row(family, "medsec CRYPTO-001…009 in that run: first start to last end", span, None,
            process.found),
        process,
        _counted_all(family, "sslyze --sslv3 ... --tlsv1_3, then ssh-audit -j", both,
                     peers(SSLYZE_VERSIONS), rounds),
        _counted_all(family, "sslyze + --certinfo --elliptic_curves --compression --reneg "
                     "--fallback, then ssh-audit -j", both, peers(SSLYZE_SAME_QUESTIONS), rounds),
        _counted_all("crypto suite, 12 checks (same servers)", "medsec run --suite crypto",
                     both, medsec_run(), rounds),
    ]  # fmt: skip


def _crypto_run(profile: Path, base: Path, spans: list[float], *select: str) -> str:
    """One `medsec run --suite crypto`: its verdicts; the span from the first check's
    start to the last one's end goes to `spans`."""
    out = Path(tempfile.mkdtemp(dir=base))
    subprocess.run(
        [sys.executable, "-m", "harness", "run", str(profile), "--out", str(out),
         "--suite", "crypto", "--quiet", *select],
        capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    checks = results.load(out / "results.json").checks
    starts = [dt.datetime.fromisoformat(c.started).timestamp() for c in checks]
    ends = [start + c.duration_s for start, c in zip(starts, checks, strict=True)]
    spans.append(max(ends) - min(starts))
    failed = sorted({c.id[-3:] for c in checks if c.outcome is results.Outcome.FAILED})
    return f"{len(checks)} verdicts, failed {', '.join(failed)}"


def _emulator_crypto_row(pump: EmulatedPump, base: Path, rounds: int) -> Row:
    """The whole crypto suite against the vulnerable emulator (two TLS services, SSH,
    a silent debug port, no SNMP agent): where the cleartext probes' waits show."""
    profile = pump.write_profile(base / "pump.yaml")
    seconds, found = timed(lambda: _crypto_run(profile, base, []), rounds)
    return Row("crypto suite against the vulnerable emulator", "medsec run --suite crypto",
               seconds, None, found)  # fmt: skip


FUZZ_CASES = 500


def bench_fuzz(pump: EmulatedPump, rounds: int) -> list[Row]:
    """ROBUST-007's throughput per service: cases per second, liveness of every service and
    the console every 50 cases and at the end included (no peer: see fuzz_engine.py)."""
    with tempfile.TemporaryDirectory() as folder:
        profile = load_profile(pump.write_profile(Path(folder) / "pump.yaml"))
    assert profile.network is not None
    rows = []
    for service in profile.network.services:

        def ours(service: Service = service) -> str:
            target = FuzzTarget(SCOPE, HOST, service.port, None, io_timeout_s=5, answer_s=0.05)
            report = fuzz_session.fuzz(
                target,
                service.name,
                exchanges_for(service.protocol),
                seed=1,
                limits=FuzzLimits(FUZZ_CASES, 1000, 300, 5),
                alive=lambda: liveness.confirm(profile, SCOPE, Transcript("bench")),
                transcript=Transcript("bench"),
            )
            campaign = report.campaign
            assert campaign is not None
            verdict = "alive" if campaign.complete else "NOT complete"
            return (
                f"{campaign.cases_per_s:.0f} cases/s, {len(campaign.liveness)} liveness, {verdict}"
            )

        family = f"fuzzing {service.name} ({service.protocol}), {FUZZ_CASES} cases"
        rows.append(Row(family, "medsec ROBUST-007 campaign", *_pair(timed(ours, rounds))))
    return rows


def bench_udp(pump: EmulatedPump, rounds: int) -> list[Row]:
    """Our UDP sweep (SURFACE-002) vs nmap -sU, all 65535 ports of an address where real
    dnsmasq (DNS, TFTP), chronyd, coap-server, snmpd (`public`) and a silent socat run."""
    from tests.integration import embedded, udp_daemons

    family = "UDP sweep, 65535 ports"
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as running:
        base = Path(folder)
        for start in (udp_daemons.dnsmasq, udp_daemons.chronyd, udp_daemons.coap_server):
            running.enter_context(start(HOST, base / start.__name__))
        running.enter_context(udp_daemons.silent_listener(HOST, base / "socat"))
        running.enter_context(embedded.snmpd(HOST, base / "snmpd", "rocommunity public\n"))

        def ours() -> str:
            exposure = udp_exposure.sweep(
                SCOPE, HOST, range(1, 65536), (), concurrency=256, wait=1.0,
                deadline=Deadline(600), transcript=Transcript("bench"),
            )  # fmt: skip
            named = [f"{f.port} {f.protocol}" for f in exposure.answering]
            return _udp_found(named, exposure.silent)

        rows = [Row(family, "medsec SURFACE-002 sweep", *_pair(timed(ours, rounds)))]
        nmap = shutil.which("nmap")
        if nmap is None or os.geteuid() != 0:
            rows.append(Row(family, "nmap -sU (root)", float("nan"), None, "not run"))
            return rows

        def peer() -> str:
            out = subprocess.run(
                [nmap, "-sU", "-p-", "-n", "-Pn", "-T4", "-oG", "-", HOST],
                capture_output=True, text=True, timeout=1200, check=True,
            ).stdout  # fmt: skip
            states = re.findall(r"(\d+)/(open|open\|filtered)/udp//([^/]*)/", out)
            named = [f"{port} {name}" for port, state, name in states if state == "open"]
            return _udp_found(named, [port for port, state, _ in states if state != "open"])

        rows.append(Row(family, "nmap -sU -T4 (raw sockets, root)", *_pair(timed(peer, rounds))))
    return rows


def _udp_found(answering: list[str], silent: Iterable[object]) -> str:
    return f"open {', '.join(answering)}; open|filtered {', '.join(map(str, silent))}"


FAMILIES = {
    "scan": bench_scan,
    "udp": bench_udp,
    "tls": bench_tls,
    "ssh-auth": bench_ssh_auth,
    "crypto": bench_crypto,
    "fuzz": bench_fuzz,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "family", nargs="?", default="all", choices=["all", *FAMILIES, "report", "fleet"]
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per tool; the median is shown")
    parser.add_argument("--sizes", default="500,1000,5000", help="report: numbers of checks")
    parser.add_argument("--pumps", type=int, default=50, help="fleet: emulated pumps")
    parser.add_argument("--jobs", type=int, default=8, help="fleet: device runs at once")
    parser.add_argument("--lanes", type=int, help="fleet: each device run's --lanes")
    parser.add_argument("--keep", type=Path, help="fleet: keep every folder in this new one")
    args = parser.parse_args(argv)
    if args.family == "fleet":
        from tests import bench_fleet

        return bench_fleet.main(args.pumps, args.jobs, args.lanes, args.keep)
    if args.family == "report":
        from tests import bench_report

        return bench_report.main([int(n) for n in args.sizes.split(",")])
    why_not = netns.enter_private_network()
    if why_not is not None:
        print(
            f"cannot isolate the benchmark ({why_not}); refusing to scan the host", file=sys.stderr
        )
        return 2
    chosen = FAMILIES if args.family == "all" else {args.family: FAMILIES[args.family]}
    with (
        tempfile.TemporaryDirectory() as workdir,
        EmulatedPump(
            SimConfig(
                workdir=Path(workdir), host=HOST, weaknesses=frozenset(PLANTED), label="bench"
            )
        ) as pump,
    ):
        rows = [row for bench in chosen.values() for row in bench(pump, args.rounds)]
    print(f"| family | tool | wall time (median of {args.rounds}) | connections | found |")
    print("| --- | --- | ---: | ---: | --- |")
    for row in rows:
        conns = "" if row.connections is None else str(row.connections)
        print(f"| {row.family} | {row.tool} | {row.seconds:.3f} s | {conns} | {row.found} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
