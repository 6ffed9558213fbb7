"""The run's seal: `manifest.json` (SHA-256 of every file), its Ed25519 signature, `verify`.

At the end of a run `manifest.json` lists the SHA-256 of every file and `manifest.sig`
holds its signature; `verify_run` reports any file modified, missing or added since.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.core.errors import MedsecError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "manifest.pub"
_UNSIGNED = {MANIFEST, SIGNATURE, PUBLIC_KEY}


def file_digests(run_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under `run_dir` except the manifest's own files."""
    digests = {}
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir).as_posix()
        if path.is_file() and relative not in _UNSIGNED:
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def key_fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM; passphrase from $MEDSEC_SIGNING_KEY_PASSPHRASE."""
    passphrase = os.environ.get("MEDSEC_SIGNING_KEY_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), passphrase.encode() if passphrase else None
        )
    except (OSError, ValueError, TypeError) as exc:
        raise MedsecError(f"{path}: cannot load the signing key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise MedsecError(f"{path}: the signing key must be Ed25519")
    return key


def write_manifest(
    run_dir: Path, key: Ed25519PrivateKey, *, key_source: str, meta: dict[str, Any]
) -> str:
    """Hash every file, sign the manifest, save the public key; returns the key fingerprint."""
    public = key.public_key()
    fingerprint = key_fingerprint(public)
    manifest = {
        "format": "medsec/manifest/v1",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "key": {"algorithm": "Ed25519", "fingerprint": fingerprint, "source": key_source},
        **meta,
        "files": file_digests(run_dir),
    }
    body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    (run_dir / MANIFEST).write_bytes(body)
    (run_dir / SIGNATURE).write_text(base64.b64encode(key.sign(body)).decode() + "\n")
    (run_dir / PUBLIC_KEY).write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return fingerprint


@dataclass(frozen=True)
class Verification:
    """What `medsec verify` found."""

    signature_ok: bool
    fingerprint: str
    key_pinned: bool
    modified: tuple[str, ...]
    missing: tuple[str, ...]
    added: tuple[str, ...]
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.signature_ok and not (self.modified or self.missing or self.added)


def verify_run(run_dir: Path, public_key_file: Path | None = None) -> Verification:
    """Check the signature over manifest.json, then every file against it."""
    try:
        body = (run_dir / MANIFEST).read_bytes()
        signature = base64.b64decode((run_dir / SIGNATURE).read_text().strip(), validate=True)
        key_pem = (public_key_file or run_dir / PUBLIC_KEY).read_bytes()
        public = serialization.load_pem_public_key(key_pem)
        manifest = json.loads(body)
        listed: dict[str, str] = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Verification(
            False, "", public_key_file is not None, (), (), (), f"unreadable: {exc}"
        )
    if not isinstance(public, Ed25519PublicKey):
        return Verification(
            False, "", public_key_file is not None, (), (), (), "key is not Ed25519"
        )
    try:
        public.verify(signature, body)
        signature_ok = True
    except InvalidSignature:
        signature_ok = False
    actual = file_digests(run_dir)
    return Verification(
        signature_ok=signature_ok,
        fingerprint=key_fingerprint(public),
        key_pinned=public_key_file is not None,
        modified=tuple(sorted(p for p in listed if p in actual and actual[p] != listed[p])),
        missing=tuple(sorted(p for p in listed if p not in actual)),
        added=tuple(sorted(p for p in actual if p not in listed)),
        problem="" if signature_ok else "the signature does not match manifest.json",
    )
