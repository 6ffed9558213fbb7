"""mosquitto as a device's broker (plain MQTT and MQTT over TLS) and as its bridge to a
cloud broker, weak and hardened.

Weak: anonymous clients on a plain listener and on the TLS one. Hardened: TLS only, with
passwords. A plain listener with passwords shows AUTH-010 passing where CRYPTO-010 still
fails (cleartext is cleartext). Anonymous access to a plain broker is an authentication
finding (AUTH-010, target `mqtt`), not only a cleartext one. The bridge connects out to
the harness (CRYPTO-012): with `bridge_insecure true` it accepts a certificate for
another name; without, it refuses every bad certificate and completes the control.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from harness.reporting.results import Outcome
from tests.integration import daemons, embedded, pki
from tests.integration.verdicts import concurrently, outcomes, reasons, run

BROKER_CHECKS = ("--suite", "auth,crypto", "--", "-k", "mqtt or cleartext")
BRIDGE_CHECKS = ("--suite", "crypto", "--", "-k", "validates_its_tls_server")
CLOUD = "cloud.medsec.test"


def _ca(folder: Path) -> pki.Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    authority = pki.Authority(pki.certificate("medsec test CA", key, days=60, ca=True), key)
    pki.write_certificate(folder / "ca.pem", authority.certificate)
    pki.write_key(folder / "ca.key", key)
    return authority


def _leaf(folder: Path, host: str, authority: pki.Authority) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = pki.certificate(host, key, days=60, issuer=authority, ca=None, ip=host)
    pki.write_certificate(folder / f"{host}.pem", leaf)
    pki.write_key(folder / f"{host}.key", key)
    return folder / f"{host}.pem", folder / f"{host}.key"


def _listener(host: str, port: int, *, anonymous: bool, tls: tuple[Path, Path] | None,
              passwords: Path | None) -> str:  # fmt: skip
    lines = [f"listener {port} {host}", f"allow_anonymous {'true' if anonymous else 'false'}"]
    if tls is not None:
        lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
    if passwords is not None:
        lines.append(f"password_file {passwords}")
    return "\n".join(lines) + "\n"


def _broker_profile(host: str, plain: int | None, tls: int | None, ca: Path) -> dict[str, Any]:
    services = []
    if plain is not None:
        services.append({"name": "mqtt", "port": plain, "protocol": "mqtt"})
    if tls is not None:
        services.append({"name": "telemetry", "port": tls, "protocol": "mqtts"})
    return {
        "network": {"host": host, "expected_tcp": [s["port"] for s in services],
                    "services": services},
        "tls": {"ca_file": str(ca)},
        "policy": {"timeout_s": 5},
    }  # fmt: skip


def test_mosquitto_brokers_weak_hardened_and_plain_with_passwords(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, hardened_host, plain_host = embedded.addresses(loopback_address, 3)
    authority = _ca(tmp_path)
    passwords = embedded.mosquitto_passwords(tmp_path, {"telemetry": daemons.random_password()})
    ports = {name: daemons.free_port(loopback_address) for name in ("plain", "tls")}
    configs = {
        "weak": (
            weak_host,
            _listener(weak_host, ports["plain"], anonymous=True, tls=None, passwords=None)
            + _listener(
                weak_host,
                ports["tls"],
                anonymous=True,
                tls=_leaf(tmp_path, weak_host, authority),
                passwords=None,
            ),
        ),
        "hardened": (
            hardened_host,
            _listener(
                hardened_host,
                ports["tls"],
                anonymous=False,
                tls=_leaf(tmp_path, hardened_host, authority),
                passwords=passwords,
            ),
        ),
        "plain-with-passwords": (
            plain_host,
            _listener(plain_host, ports["plain"], anonymous=False, tls=None, passwords=passwords),
        ),
    }
    ca = tmp_path / "ca.pem"
    profiles = {
        "weak": _broker_profile(weak_host, ports["plain"], ports["tls"], ca),
        "hardened": _broker_profile(hardened_host, None, ports["tls"], ca),
        "plain-with-passwords": _broker_profile(plain_host, ports["plain"], None, ca),
    }
    with ExitStack() as stack:
        for name, (host, listeners) in configs.items():
            config = "per_listener_settings true\n" + listeners
            stack.enter_context(embedded.mosquitto(host, tmp_path / name, config))
        results = concurrently(
            **{
                name: (
                    lambda name=name: run(
                        tmp_path, configs[name][0], f"mosquitto-{name}", *BROKER_CHECKS,
                        **profiles[name],
                    )
                )
                for name in configs
            }
        )  # fmt: skip
    weak, hardened, plain = results["weak"], results["hardened"], results["plain-with-passwords"]
    assert outcomes(weak) == {
        "AUTH-010[mqtt]": Outcome.FAILED,  # anonymous on the plain listener
        "CRYPTO-010[network]": Outcome.FAILED,  # MQTT in the clear
        "CRYPTO-011[telemetry]": Outcome.FAILED,  # anonymous over TLS too
    }, reasons(weak)
    assert f"port(s) {ports['plain']} accepts a CONNECT" in weak["checks"]["AUTH-010[mqtt]"].reason
    assert f"{ports['plain']}/tcp: mqtt" in weak["checks"]["CRYPTO-010[network]"].reason
    assert outcomes(hardened) == {
        "AUTH-010[mqtt]": Outcome.NOT_APPLICABLE,  # no plain broker
        "CRYPTO-010[network]": Outcome.PASSED,
        "CRYPTO-011[telemetry]": Outcome.PASSED,
    }, reasons(hardened)
    assert outcomes(plain) == {
        "AUTH-010[mqtt]": Outcome.PASSED,  # CONNACK 5: not authorized
        "CRYPTO-010[network]": Outcome.FAILED,
        "CRYPTO-011[tls]": Outcome.NOT_APPLICABLE,  # no TLS service
    }, reasons(plain)


def _bridge(host: str, cloud_port: int, ca: Path, *, insecure: bool) -> str:
    return (
        f"listener {daemons.free_port(host)} {host}\nallow_anonymous false\n"
        f"connection cloud\naddress {CLOUD}:{cloud_port}\ntopic telemetry/# out 0\n"
        f"bridge_cafile {ca}\nbridge_insecure {'true' if insecure else 'false'}\n"
        # a single restart_timeout value retries every 7 s or so in 2.0.11; base 1, cap 2 does not
        "bridge_protocol_version mqttv311\ntry_private false\nrestart_timeout 1 2\n"
        "notifications false\nstart_type automatic\n"
    )


def test_mosquitto_bridge_validates_the_cloud_broker(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, hardened_host = embedded.addresses(loopback_address, 2)
    _ca(tmp_path)
    ca, ca_key = tmp_path / "ca.pem", tmp_path / "ca.key"
    runs = {}
    with ExitStack() as stack:
        for name, host, insecure in (("weak", weak_host, True), ("hardened", hardened_host, False)):
            cloud_port = daemons.free_port(host)
            etc = stack.enter_context(
                embedded.private_etc(tmp_path / name, [], hosts={CLOUD: host})
            )
            config = _bridge(host, cloud_port, ca, insecure=insecure)
            stack.enter_context(embedded.mosquitto(host, tmp_path / name, config, etc))
            runs[name] = (host, cloud_port)
        results = concurrently(
            **{
                name: (
                    lambda name=name: run(
                        tmp_path, runs[name][0], f"bridge-{name}", *BRIDGE_CHECKS,
                        tls_client={
                            "listen": f"{runs[name][0]}:{runs[name][1]}", "server_name": CLOUD,
                            "ca_cert": str(ca), "ca_key": str(ca_key), "wait_s": 15,
                        },
                    )
                )
                for name in runs
            }
        )  # fmt: skip
    weak, hardened = results["weak"], results["hardened"]
    assert outcomes(weak) == {"CRYPTO-012[tls]": Outcome.FAILED}, reasons(weak)
    assert "wrong-name: completed the handshake" in weak["checks"]["CRYPTO-012[tls]"].reason
    assert outcomes(hardened) == {"CRYPTO-012[tls]": Outcome.PASSED}, reasons(hardened)
