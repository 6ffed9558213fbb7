"""The run's seal: `manifest.json` (SHA-256 of every file), its Ed25519 signature, `verify`.

At the end of a run `manifest.json` lists the SHA-256 of every file and `manifest.sig`
holds its signature; `verify_run` reports any file modified, missing or added since.
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class RunContents:
    """A run folder as found on disk: its regular files' digests, and anything else."""

    digests: dict[str, str]
    irregular: dict[str, str]  # relative path -> what it is (symlink, FIFO, empty folder...)


def scan_run(run_dir: Path) -> RunContents:
    """SHA-256 of every regular file under `run_dir` (manifest files aside); links never followed.

    Evidence is regular files only: a symlink (even to an identical copy), a FIFO, a
    device, a socket or an empty folder is something nobody's run wrote, and is listed
    as irregular instead of being read.
    """
    digests: dict[str, str] = {}
    irregular: dict[str, str] = {}
    for root, folders, files in os.walk(run_dir, followlinks=False):
        here = Path(root)
        for name in folders:
            if (here / name).is_symlink():
                irregular[(here / name).relative_to(run_dir).as_posix()] = "symlink"
        if here != run_dir and not folders and not files:
            irregular[here.relative_to(run_dir).as_posix()] = "empty folder"
        for name in files:
            path = here / name
            relative = path.relative_to(run_dir).as_posix()
            if relative in _UNSIGNED:
                continue
            digest, kind = _digest_regular(path)
            if digest is None:
                irregular[relative] = kind
            else:
                digests[relative] = digest
    return RunContents(dict(sorted(digests.items())), dict(sorted(irregular.items())))


def file_digests(run_dir: Path) -> dict[str, str]:
    """SHA-256 of every regular file under `run_dir` except the manifest's own files."""
    return scan_run(run_dir).digests


def _digest_regular(path: Path) -> tuple[str | None, str]:
    """(sha256, "") of a regular file, or (None, what it is) without following or blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, _kind(path) if exc.errno in (errno.ELOOP, errno.ENXIO) else "unreadable"
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, _kind(path)
        digest = hashlib.sha256()
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest(), ""


def _kind(path: Path) -> str:
    mode = path.lstat().st_mode
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read_regular(path: Path) -> bytes:
    """A manifest file's bytes; OSError if it is anything but a regular file."""
    digest, kind = _digest_regular(path)
    if digest is None:
        raise OSError(f"{path.name} is not a regular file ({kind})")
    return path.read_bytes()


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
    modified: tuple[str, ...]  # changed, or no longer a regular file
    missing: tuple[str, ...]
    added: tuple[str, ...]
    problem: str = ""
    irregular: dict[str, str] = field(default_factory=dict)  # path -> symlink, FIFO, ...

    @property
    def ok(self) -> bool:
        return self.signature_ok and not (self.modified or self.missing or self.added)


def verify_run(run_dir: Path, public_key_file: Path | None = None) -> Verification:
    """Check the signature over manifest.json, then every file against it."""
    try:
        body = _read_regular(run_dir / MANIFEST)
        signature = base64.b64decode(_read_regular(run_dir / SIGNATURE).strip(), validate=True)
        key_pem = (
            public_key_file.read_bytes()
            if public_key_file is not None
            else _read_regular(run_dir / PUBLIC_KEY)
        )
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
    found = scan_run(run_dir)
    actual = found.digests
    changed = {p for p in listed if p in actual and actual[p] != listed[p]}
    return Verification(
        signature_ok=signature_ok,
        fingerprint=key_fingerprint(public),
        key_pinned=public_key_file is not None,
        modified=tuple(sorted(changed | set(found.irregular))),
        missing=tuple(sorted(p for p in listed if p not in actual and p not in found.irregular)),
        added=tuple(sorted(p for p in actual if p not in listed)),
        problem="" if signature_ok else "the signature does not match manifest.json",
        irregular=found.irregular,
    )
