"""The draft profile `medsec init` writes: YAML with what was seen in comments and a TODO
wherever a person must decide.

Values are only the user's host, port numbers, protocol names from a fixed list and
login paths and field names that passed a strict pattern; everything else the device
sent (banners, certificate names, pages) goes into comments, cleaned to printable ASCII
and cut short, so a hostile device can neither break the YAML nor smuggle a key into it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence

from harness import __version__
from harness.core.terminal import clean
from harness.probes.surface.discovery import DeviceSurvey, PortSurvey
from harness.probes.surface.web_login import LoginHint

SSH_PASSWORD_VAR = "MEDSEC_SSH_PASSWORD"  # noqa: S105 - the name of a variable
HTTP_PASSWORD_VAR = "MEDSEC_HTTP_PASSWORD"  # noqa: S105 - the name of a variable
MAX_COMMENT = 160
_SAFE_PATH = re.compile(r"^/[\x21-\x7e]{0,199}$")
_SAFE_FIELD = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,64}$")
LOGIN_STYLES = ("json", "form", "basic")  # what http.login.style can say


def comment(text: str) -> str:
    """Device text made safe for a YAML comment: one line of printable ASCII, cut short."""
    one_line = " ".join(clean(text).split())
    ascii_only = one_line.encode("ascii", "backslashreplace").decode("ascii")
    return ascii_only if len(ascii_only) <= MAX_COMMENT else ascii_only[: MAX_COMMENT - 3] + "..."


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(value)


def _line(text: str, note: str = "") -> str:
    return f"{text:<40} # {note}" if note else text


def network_of(address: str) -> str:
    """`127.0.0.5/32` or `::1/128`: exactly one address."""
    parsed = ipaddress.ip_address(address)
    return f"{parsed}/{parsed.max_prefixlen}"


def render(
    survey: DeviceSurvey,
    *,
    command: str,
    addresses: Sequence[str],
    scan_ports: str | None,
    when: str,
) -> str:
    """The draft profile for what `survey` found at `survey.host`."""
    lines = [
        f"# Draft device profile written by `{comment(command)}`",
        f"# (medsec-harness {__version__}, {when}). It validates as written.",
        "# Before the first run:",
        "#   - decide every line marked TODO (what this device is, what it may be put through);",
        "#   - set the ${VAR} secrets: export them, or pass `--env-file FILE` (NAME=value lines);",
        "#   - then `medsec validate` this file, and `medsec run` it.",
        "# Beside each port is what it answered; nothing logged in and nothing was judged.",
        "schema: medsec/profile/v1",
        "device:",
        _line(f"  name: {_q(f'Device at {survey.host}')}", "TODO: the name reports show"),
        _line("  vendor: TODO", "TODO"),
        _line("  model: TODO", "TODO"),
        _line("  firmware: TODO", "TODO: the firmware version under test"),
        "scope:",
        _line(
            f"  allow: [{', '.join(_q(network_of(a)) for a in addresses)}]",
            "the probed address only: nothing else is ever touched",
        ),
        _line("  destructive: false", "TODO: true only for a bench device that may be disturbed"),
        _line(
            "threat_model: infusion-pump",
            "TODO: the shipped example; name your device's threat-model file here",
        ),
        *_network(survey, scan_ports),
        *_ssh(survey),
        *_tls(survey),
        *_http(survey),
        "# policy: every key has a strict default (README, profile reference)",
    ]
    return "\n".join(lines) + "\n"


def _network(survey: DeviceSurvey, scan_ports: str | None) -> list[str]:
    opened = list(survey.scan.open)
    lines = [
        "network:",
        f"  host: {_q(survey.host)}",
        _line(
            f"  expected_tcp: [{', '.join(map(str, opened))}]",
            "TODO: open when probed; delete each port that must not be open (SURFACE-001)",
        ),
    ]
    if scan_ports is not None:
        lines.append(f"  scan_ports: {_q(scan_ports)}")
    if survey.ports:
        lines.append("  services:")
        lines += [_service(port) for port in survey.ports]
    if survey.unidentified:
        listed = ", ".join(map(str, survey.unidentified))
        lines.append(
            f"  # not asked what they speak (more than {len(survey.ports)} open): {listed}"
        )
    answered = [found.port for found in survey.udp]
    lines.append(
        _line(
            f"  expected_udp: [{', '.join(map(str, answered))}]",
            "TODO: answered when probed; delete each that must not (SURFACE-002)",
        )
    )
    lines += [f"  #   {comment(found.summary())}" for found in survey.udp]
    return lines


def _service(port: PortSurvey) -> str:
    entry = (
        f"    - {{name: {port.protocol}-{port.port}, port: {port.port}, protocol: {port.protocol}}}"
    )
    return f"{entry}  # {comment(port.describe(certificate=False))}"


def _ssh(survey: DeviceSurvey) -> list[str]:
    port = survey.first("ssh")
    if port is None or port.ssh is None:
        return []
    ssh = port.ssh
    methods = ", ".join(ssh.auth_methods) if ssh.auth_methods is not None else "not learnt"
    lines = [
        _line("ssh:", comment(f"{ssh.identification}; offers {methods}")),
        f"  port: {port.port}",
        _line("  username: TODO", "TODO: the account the harness may log in with"),
    ]
    if ssh.offers_password:
        lines.append(
            _line(
                f'  password: "${{{SSH_PASSWORD_VAR}}}"', "the server takes passwords; or key_file"
            )
        )
    lines.append("  # key_file: TODO   # TODO: that account's private key, relative to this file")
    return lines


def _tls(survey: DeviceSurvey) -> list[str]:
    lines = []
    for port in survey.ports:
        leaf = port.tls.certificate if port.tls is not None else None
        if leaf is None:
            continue
        signer = "self-signed" if leaf.self_signed else f"issued by {leaf.issuer}"
        names = f"; names {', '.join(leaf.dns_names)}" if leaf.dns_names else ""
        lines.append(
            f"#   {port.protocol}-{port.port}: {comment(leaf.subject + ', ' + signer + names)}"
        )
    if not lines:
        return []
    return [
        "# tls:                     certificates seen:",
        *lines,
        "#   ca_file: TODO.pem      # TODO: the CA the device's certificates must chain to",
        "#   server_name: TODO      # TODO: the name the device is reached by (SNI), if any",
    ]


def _http(survey: DeviceSurvey) -> list[str]:
    fronts = [p.web for p in survey.ports if p.web is not None]
    if not fronts:
        return []
    web = next((w for w in fronts if _usable(w.login)), fronts[0])
    login = web.login
    if login is None or not _usable(login):
        seen = login.seen if login is not None else "no login form, Basic challenge or 405"
        return [
            f"# http: {comment(web.base_url)} answers, but with no login this profile can describe",
            f"#   ({comment(seen)}); TODO: describe it (README, profile reference: http.login)",
            *(f"#   {comment(f'{p.path}: {p.note}')}" for p in web.pages if p.note),
        ]
    lines = [
        "http:",
        f"  base_url: {_q(web.base_url)}",
        _line("  login:", comment(f"TODO: confirm; seen: {login.seen}")),
        f"    path: {_q(login.path)}",
        f"    method: {login.method}",
        f"    style: {login.style}",
    ]
    if login.style == "form":
        lines += [
            f"    username_field: {_q(login.username_field or '')}",
            f"    password_field: {_q(login.password_field or '')}",
        ]
    lines.append(
        _line(
            f'  account: {{username: TODO, password: "${{{HTTP_PASSWORD_VAR}}}"}}',
            "TODO: an account the API must let in",
        )
    )
    return lines


def _usable(login: LoginHint | None) -> bool:
    """A login the profile can express, with a path and field names safe to write."""
    if login is None or login.style not in LOGIN_STYLES or not _SAFE_PATH.match(login.path):
        return False
    if login.style != "form":
        return True
    return all(
        name is not None and _SAFE_FIELD.match(name)
        for name in (login.username_field, login.password_field)
    )
