"""The profile's signing key (`update.signing_key`, PEM), as the image kits sign with it."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness.core.errors import MedsecError

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _load_pem(path: Path) -> object:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise MedsecError(f"{path}: cannot load the signing key: {exc}") from None


def load_private_key(path: Path) -> PrivateKey:
    """An Ed25519, EC or RSA private key from PEM; MedsecError if unusable."""
    key = _load_pem(path)
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise MedsecError(f"{path}: detached signatures need an Ed25519, EC or RSA key")
    return key


def load_ed25519_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 private key from PEM; MedsecError if unusable or of another kind."""
    key = _load_pem(path)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise MedsecError(f"{path}: the signing key must be Ed25519")
    return key
