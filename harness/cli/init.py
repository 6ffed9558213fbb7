"""`medsec init HOST`: probe a device once and write a draft profile that validates.

Only loopback, or networks the user names with `--allow`, may be probed: the draft's
`scope.allow` is then the probed address alone. The draft is validated before it is
written; an existing file is never overwritten without `--force`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shlex
import sys
import tempfile
from pathlib import Path

from harness.cli import draft
from harness.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.config.profile import Policy, load_profile
from harness.core.errors import DeviceError, OutOfScope, ProfileError
from harness.core.scope import Scope, resolve
from harness.core.terminal import clean
from harness.core.transcript import Transcript
from harness.probes.surface import discovery
from harness.probes.surface.discovery import DeviceSurvey
from harness.transports import net

LOOPBACK = ("127.0.0.0/8", "::1/128")
DEFAULT_PORTS = "1-65535"
_PORT_RANGES = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")  # as network.scan_ports


def _say(text: str) -> None:
    print(clean(text), file=sys.stderr)


def cmd_init(host: str, out: Path | None, allow: list[str], ports: str | None, force: bool) -> int:
    """Probe `host`, write the draft to `out` (stdout without it); exit status as `run`'s."""
    scope = Scope.of([*LOOPBACK, *(ipaddress.ip_network(n, strict=False) for n in allow)])
    if ports is not None and not _PORT_RANGES.match(ports):
        _say(f"medsec init: --ports {ports!r}: give ranges such as 1-1024,8080")
        return EXIT_USAGE
    if out is not None and out.exists() and not force:
        _say(f"medsec init: {out} exists; choose another --out or pass --force")
        return EXIT_USAGE
    if out is not None and not out.parent.is_dir():
        _say(f"medsec init: no folder {out.parent} for --out")
        return EXIT_USAGE
    try:
        scope.resolve(host)
    except OutOfScope:
        _say(
            f"medsec init: refusing to probe {host}: it is not loopback and not inside "
            f"--allow ({', '.join(allow) or 'none given'}); pass --allow CIDR for a device "
            "you are allowed to probe"
        )
        return EXIT_USAGE
    addresses = [str(a) for a in resolve(host)]
    port_list = net.parse_port_ranges(ports or DEFAULT_PORTS)
    policy = Policy()
    _say(
        f"probing {host} ({', '.join(addresses)}): {len(port_list)} TCP ports, what each open "
        "one speaks, then the UDP services' own ports (DNS, TFTP, NTP, SNMP, SSDP, mDNS, CoAP)"
    )
    transcript = Transcript(f"medsec init {host}")
    try:
        survey = discovery.survey(
            scope, host, port_list, timeout=policy.timeout_s,
            scan_concurrency=policy.scan_concurrency,
            scan_connect_timeout=policy.scan_connect_timeout_s, transcript=transcript,
        )  # fmt: skip
    except DeviceError as exc:
        _say(f"medsec init: {exc}")
        return EXIT_FAILED
    _report(survey)
    if not survey.scan.open and not survey.udp:
        _say(f"medsec init: nothing answered on {host}; is the device up and reachable?")
        return EXIT_FAILED
    text = draft.render(
        survey,
        command=shlex.join(["medsec", "init", host, *(f"--allow={n}" for n in allow)]),
        addresses=addresses,
        scan_ports=ports,
        when=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    try:
        _validate(text, out.parent if out is not None else None)
        if out is not None:
            out.write_text(text, encoding="utf-8")
    except ProfileError as exc:
        _say(f"medsec init: the draft does not validate (a bug in medsec init):\n{exc}")
        return EXIT_FAILED
    except OSError as exc:
        _say(f"medsec init: cannot write {out}: {exc.strerror or exc}")
        return EXIT_USAGE
    if out is None:
        sys.stdout.write(text)
    else:
        _say(f"wrote {out}: decide its TODO lines, then: medsec validate {out}")
    return EXIT_OK


def _report(survey: DeviceSurvey) -> None:
    scan = survey.scan
    _say(
        f"{scan.ports_scanned} TCP ports in {scan.duration_s:.1f}s: open {list(scan.open)}, "
        f"silent {len(scan.filtered)}"
    )
    for port in survey.ports:
        _say(f"  {port.port}/tcp {port.protocol}: {port.describe()}")
    for found in survey.udp:
        _say(f"  {found.summary()}")
    _say(f"done in {survey.duration_s:.1f}s")


def _validate(text: str, folder: Path | None) -> None:
    """Load the draft as `medsec validate` would, from the folder it is written to."""
    with tempfile.TemporaryDirectory(dir=folder, prefix=".medsec-init-") as scratch:
        path = Path(scratch) / "draft.yaml"
        path.write_text(text, encoding="utf-8")
        load_profile(path, require_env=False)
