"""nginx as a device's web UI, weak or hardened; Debian's package versions for SBOMs; nmap -sV.

The weak nginx names its version (`server_tokens on`: the `Server` header and every
error page) and sends no security header; the hardened one hides it and sends HSTS, a
framing ban, nosniff and no-store on every answer (`always`: nginx otherwise leaves
them off error answers such as the login page's 401). Both set a `prefs` cookie, the
weak one without flags; the page behind HTTP Basic is the authenticated one.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration import daemons, embedded

HARDENED_HEADERS = (
    ("Strict-Transport-Security", '"max-age=31536000"'),
    ("Content-Security-Policy", "\"default-src 'self'; frame-ancestors 'none'\""),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Set-Cookie", '"prefs=dark; Path=/; Secure; HttpOnly; SameSite=Strict"'),
)
WEAK_HEADERS = (("Set-Cookie", '"prefs=dark; Path=/"'),)


@dataclass(frozen=True)
class Nginx:
    """What one nginx serves: its certificate and key, the Basic user, how hardened."""

    cert: Path
    key: Path
    user: str
    password: str
    hardened: bool


@contextlib.contextmanager
def nginx(host: str, folder: Path, served: Nginx) -> Iterator[int]:
    """nginx over TLS on `host`; `/` behind HTTP Basic (workers run as root: the test's
    folders are root's only)."""
    binary = embedded.program("nginx", "nginx")
    root = folder / "www"
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<html><body>pump status: infusing</body></html>\n")
    users = folder / "htpasswd"
    users.write_text(f"{served.user}:{embedded.sha512_crypt(served.password)}\n")
    port = daemons.free_port(host)
    always = " always" if served.hardened else ""
    headers = "".join(
        f"      add_header {name} {value}{always};\n"
        for name, value in (HARDENED_HEADERS if served.hardened else WEAK_HEADERS)
    )
    server = (
        "  server {\n"
        f"    listen {host}:{port} ssl;\n"
        f"    ssl_certificate {served.cert};\n    ssl_certificate_key {served.key};\n"
        f"    server_tokens {'off' if served.hardened else 'on'};\n"
        f"    root {root};\n"
        "    location / {\n"
        f'      auth_basic "pump";\n      auth_basic_user_file {users};\n'
        f"{headers}"
        "    }\n  }\n"
    )
    with _nginx_running(binary, folder, server, host, port):
        yield port


@contextlib.contextmanager
def nginx_servers(host: str, folder: Path, servers: str, port: int) -> Iterator[None]:
    """nginx with `servers` (server blocks; `{root}` is a folder holding `index.html` and
    `api/status`), once `host:port` accepts."""
    binary = embedded.program("nginx", "nginx")
    root = folder / "www"
    (root / "api").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<html><body>pump status: infusing</body></html>\n")
    (root / "api" / "status").write_text('{"rate": 5}\n')
    with _nginx_running(binary, folder, servers.replace("{root}", str(root)), host, port):
        yield


@contextlib.contextmanager
def _nginx_running(binary: str, folder: Path, servers: str, host: str, port: int) -> Iterator[None]:
    temp = "".join(
        f"  {kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = folder / "nginx.conf"
    config.write_text(
        f"user root;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log off;\n{temp}{servers}}}\n"
    )
    command = [binary, "-c", str(config), "-p", str(folder), "-g", "daemon off;"]
    with embedded.started(command, folder / "nginx.out", embedded.listening(host, port)):
        yield


def package_version(package: str) -> str:
    """The installed Debian version of `package` (epoch and revision included)."""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True
    )
    daemons.require(done.returncode == 0, f"dpkg-query does not know {package}")
    return done.stdout.strip()


def sbom(path: Path, packages: dict[str, str]) -> Path:
    """A CycloneDX SBOM of Debian packages (name: version), as a device's build lists them."""
    components = [
        {
            "type": "application",
            "name": name,
            "version": version,
            "purl": f"pkg:deb/debian/{name}@{version.replace('+', '%2B')}",
        }
        for name, version in packages.items()
    ]
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": components,
    }
    path.write_text(json.dumps(document, indent=2))
    return path


@dataclass(frozen=True)
class NmapService:
    """What `nmap -sV` says a port runs."""

    product: str
    version: str
    extrainfo: str


def nmap_versions(host: str, ports: list[int]) -> dict[int, NmapService]:
    """`nmap -sV` on `ports` (TCP connect scan: no raw sockets needed), parsed from its XML."""
    binary = embedded.program("nmap", "nmap")
    done = subprocess.run(
        [binary, "-sT", "-sV", "-Pn", "-n", "-p", ",".join(map(str, ports)), "-oX", "-", host],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    found = {}
    for port in ElementTree.fromstring(done.stdout).iter("port"):
        service = port.find("service")
        if service is not None:
            found[int(port.get("portid", "0"))] = NmapService(
                service.get("product", ""), service.get("version", ""), service.get("extrainfo", "")
            )
    return found
