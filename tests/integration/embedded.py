"""Daemons embedded devices really ship, started on loopback for the tests: dropbear, busybox
telnetd and login, lighttpd, mosquitto and net-snmp.

A daemon that checks logins runs in a mount namespace of its own whose /etc is a private
copy holding the test's passwd, shadow and group (and hosts where asked): its accounts,
root included, exist for that daemon only, nothing is added to the machine, and the
hashes are SHA-512, which busybox `login` can check. The whole folder is replaced, not
single files: `useradd` elsewhere renames a new /etc/passwd into place, which would drop
a file bind-mounted over the old one. `.ci/run` installs every daemon;
`daemons.require` fails a missing one in CI instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration import daemons

Ready = Callable[[], bool]


def addresses(loopback_address: str, count: int) -> list[str]:
    """`count` loopback addresses of this test's own, so that each device it starts is
    alone on its address (a scan of one never sees another): the fixture's address and
    copies of it in 127.101.x.y, 127.102.x.y..."""
    rest = loopback_address.split(".", 2)[2]
    return [loopback_address, *(f"127.{100 + n}.{rest}" for n in range(1, count))]


@dataclass(frozen=True)
class Account:
    """A login of the fake device; `password` None is a locked account (`*` in shadow),
    "" one with no password at all (an empty shadow field)."""

    name: str
    password: str | None
    uid: int = 1000


def program(name: str, package: str) -> str:
    """The path of a daemon's program; skips (fails in CI) when it is not installed."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.is_file()), None
    )
    daemons.require(found is not None, f"{name} is not installed (apt-get install {package})")
    assert found is not None
    return found


def sha512_crypt(password: str) -> str:
    done = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True
    )
    daemons.require(done.returncode == 0, "openssl passwd -6 is needed to hash test passwords")
    return done.stdout.strip()


@dataclass(frozen=True)
class Etc:
    """A private copy of /etc with the test's accounts, for one daemon's mount namespace."""

    root: Path
    homes: Path
    uids: dict[str, int]

    def home(self, name: str) -> Path:
        return self.homes / name

    def wrap(self, command: Sequence[str]) -> list[str]:
        """`command` in a mount namespace of its own, this folder mounted on /etc."""
        daemons.require(shutil.which("unshare") is not None, "unshare (util-linux) is missing")
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", f'mount --bind "{self.root}" /etc && exec "$@"', "sh", *command,
        ]  # fmt: skip


def _copy_unless_gone(source: str, destination: str) -> None:
    """A file of /etc, unless it went while /etc was copied: another test's useradd
    (`daemons.local_account`) makes and removes passwd.lock, group.NNNN and the like."""
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(source, destination)


@contextlib.contextmanager
def private_etc(
    folder: Path, accounts: Sequence[Account], *, hosts: dict[str, str] | None = None
) -> Iterator[Etc]:
    """A copy of /etc whose passwd, shadow and group hold `accounts` only (their homes in a
    world-readable folder: pytest's own are root-only), and whose hosts names `hosts`
    (name: address) when given."""
    daemons.require(os.geteuid() == 0, "daemons with own accounts need root (mount namespaces)")
    root = folder / "etc"
    shutil.copytree("/etc", root, symlinks=True, copy_function=_copy_unless_gone)
    homes = Path(tempfile.mkdtemp(prefix="medsec-homes-"))
    homes.chmod(0o755)
    passwd, shadow, group = [], [], ["root:x:0:"]
    for account in accounts:
        home = homes / account.name
        home.mkdir(mode=0o755)
        subprocess.run(["chown", f"{account.uid}:{account.uid}", str(home)], check=True)
        passwd.append(f"{account.name}:x:{account.uid}:{account.uid}::{home}:/bin/sh")
        if account.password is None:
            hashed = "*"
        elif account.password:
            hashed = sha512_crypt(account.password)
        else:
            hashed = ""  # no password at all
        shadow.append(f"{account.name}:{hashed}:19000:0:99999:7:::")
        if account.uid != 0:
            group.append(f"{account.name}:x:{account.uid}:")
    texts = {"passwd": passwd, "shadow": shadow, "group": group}
    if hosts is not None:
        texts["hosts"] = ["127.0.0.1 localhost", *(f"{a} {n}" for n, a in hosts.items())]
    for name, lines in texts.items():
        path = root / name
        path.unlink(missing_ok=True)
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600 if name == "shadow" else 0o644)
    try:
        yield Etc(root, homes, {a.name: a.uid for a in accounts})
    finally:
        shutil.rmtree(homes, ignore_errors=True)


@contextlib.contextmanager
def started(command: list[str], log: Path, ready: Ready, timeout: float = 10) -> Iterator[None]:
    """`command` running until the block ends, once `ready()` (within `timeout` seconds)."""
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited {process.returncode}" if process.poll() is not None else "late"
                raise RuntimeError(f"{command[0]} {state}: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def listening(host: str, port: int) -> Ready:
    def ready() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        return False

    return ready


# --- busybox telnetd and login ---------------------------------------------------------------


@contextlib.contextmanager
def telnetd(host: str, folder: Path, etc: Etc, login: str = "login") -> Iterator[int]:
    """busybox telnetd running busybox `login` (or the program `login` names) per connection."""
    busybox = program("busybox", "busybox-static")
    listing = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
    daemons.require("telnetd" in listing, "this busybox has no telnetd (use busybox-static)")
    folder.mkdir(parents=True, exist_ok=True)
    if login == "login":
        link = folder / "login"  # busybox picks the applet by the name it is started as
        link.symlink_to(busybox)
        login = str(link)
    port = daemons.free_port(host)
    command = etc.wrap([busybox, "telnetd", "-F", "-b", f"{host}:{port}", "-l", login])
    with started(command, folder / "telnetd.log", listening(host, port)):
        yield port


# --- dropbear ----------------------------------------------------------------------------------


def dropbear_key(folder: Path, kind: str, bits: int | None = None) -> Path:
    key = folder / f"dropbear_{kind}_{bits or 'default'}"
    if not key.exists():
        size = ["-s", str(bits)] if bits else []
        keygen = program("dropbearkey", "dropbear-bin")
        subprocess.run([keygen, "-t", kind, *size, "-f", str(key)], check=True, capture_output=True)
    return key


@contextlib.contextmanager
def dropbear(
    host: str, folder: Path, etc: Etc, keys: Sequence[Path], options: Sequence[str]
) -> Iterator[int]:
    """dropbear with these host keys and options (-s no passwords, -w no root, -I idle...)."""
    binary = program("dropbear", "dropbear-bin")
    folder.mkdir(parents=True, exist_ok=True)
    port = daemons.free_port(host)
    command = [binary, "-F", "-E", "-m", "-p", f"{host}:{port}", "-P", str(folder / "pid")]
    command += [arg for key in keys for arg in ("-r", str(key))]
    with started(etc.wrap([*command, *options]), folder / "dropbear.log", listening(host, port)):
        yield port


def authorize(etc: Etc, name: str, public_key: str) -> None:
    """`public_key` in the account's ~/.ssh/authorized_keys, as dropbear wants its modes."""
    ssh = etc.home(name) / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    keys = ssh / "authorized_keys"
    keys.write_text(public_key)
    keys.chmod(0o600)
    uid = etc.uids[name]
    subprocess.run(["chown", "-R", f"{uid}:{uid}", str(ssh)], check=True)


# --- lighttpd ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebServer:
    """What the lighttpd of a test serves: a TLS certificate and key, Basic users, and
    whether its WebDAV folder (`/dav/`) sits behind the same Basic authentication."""

    cert_and_key: Path  # one PEM file with the certificate (chain) and the key
    users: dict[str, str]
    dav_protected: bool
    min_tls: str = "TLSv1.2"


@contextlib.contextmanager
def lighttpd(host: str, folder: Path, served: WebServer) -> Iterator[int]:
    """lighttpd over TLS: `/` behind Basic auth, `/dav/` a WebDAV folder (PUT, then GET)."""
    binary = program("lighttpd", "lighttpd")
    modules = Path("/usr/lib/lighttpd")
    for module, package in (("openssl", "lighttpd-mod-openssl"), ("webdav", "lighttpd-mod-webdav")):
        daemons.require((modules / f"mod_{module}.so").is_file(), f"apt-get install {package}")
    root = folder / "www"
    (root / "dav").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("pump status: infusing\n")
    (root / "dav" / "config.txt").write_text("rate=5\n")
    users = folder / "users"
    users.write_text("".join(f"{u}:{p}\n" for u, p in served.users.items()))
    port = daemons.free_port(host)
    protected = ['"/" => ("method" => "basic", "realm" => "pump", "require" => "valid-user")']
    config = folder / "lighttpd.conf"
    config.write_text(
        f'server.document-root = "{root}"\n'
        f'server.bind = "{host}"\nserver.port = {port}\n'
        f'server.pid-file = "{folder}/lighttpd.pid"\n'
        f'server.errorlog = "{folder}/error.log"\n'
        'server.modules = ("mod_indexfile", "mod_auth", "mod_authn_file", "mod_openssl", '
        '"mod_webdav", "mod_staticfile")\n'
        'index-file.names = ("index.html")\n'
        'ssl.engine = "enable"\n'
        f'ssl.pemfile = "{served.cert_and_key}"\n'
        f'ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "{served.min_tls}")\n'
        'auth.backend = "plain"\n'
        f'auth.backend.plain.userfile = "{users}"\n'
        f"auth.require = ({protected[0]})\n"
        '$HTTP["url"] =~ "^/dav/" {\n'
        '  webdav.activate = "enable"\n  webdav.is-readonly = "disable"\n'
        + ("" if served.dav_protected else "  auth.require = ()\n")
        + "}\n"
    )
    command = [binary, "-D", "-f", str(config)]
    with started(command, folder / "lighttpd.log", listening(host, port)):
        yield port


# --- mosquitto ---------------------------------------------------------------------------------


@contextlib.contextmanager
def mosquitto(host: str, folder: Path, config: str, etc: Etc | None = None) -> Iterator[None]:
    """mosquitto with `config` (its listeners bound by the test); waits for its first one."""
    binary = program("mosquitto", "mosquitto")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mosquitto.conf"
    path.write_text(
        f"pid_file {folder}/mosquitto.pid\nuser root\nlog_dest stdout\nlog_type all\n{config}"
    )
    first = int(config.split("listener ", 1)[1].split()[0])
    command = [binary, "-c", str(path)]
    if etc is not None:
        command = etc.wrap(command)
    with started(command, folder / "mosquitto.log", listening(host, first)):
        yield


def mosquitto_passwords(folder: Path, users: dict[str, str]) -> Path:
    """A mosquitto password file (hashed by mosquitto_passwd)."""
    tool = program("mosquitto_passwd", "mosquitto")
    path = folder / "passwords"
    path.write_text("")
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


# --- net-snmp ----------------------------------------------------------------------------------


@contextlib.contextmanager
def snmpd(host: str, folder: Path, config: str, listen: str = "udp:{host}:161") -> Iterator[None]:
    """net-snmp's snmpd with `config` only (no system configuration), where `listen` says
    (`udp:{host}:161` by default; `tcp:{host}:161` is SNMP over TCP)."""
    binary = program("snmpd", "snmpd")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "snmpd.conf"
    path.write_text(config)
    log = folder / "snmpd.log"
    command = [
        binary, "-f", "-C", "-c", str(path), "-m", "", "-I", "-smux", "-Lf", str(log),
        "-p", str(folder / "snmpd.pid"), f"--persistentDir={folder}", listen.format(host=host),
    ]  # fmt: skip
    with started(command, folder / "snmpd.out", lambda: "NET-SNMP version" in _text(log)):
        yield


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
