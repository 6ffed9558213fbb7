"""The kit registry, the `@derives` marks, the signing-key loader, and updates/ staying pure."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harness.config.profile import Profile, Update
from harness.core.errors import MedsecError, NotSupported
from harness.updates import medsec_v1
from harness.updates.attacks import Attack, Unsupported, UpdateImage
from harness.updates.detached import DetachedKit
from harness.updates.keys import load_ed25519_key, load_private_key
from harness.updates.kit import ImageKit, KitSpec, derives
from harness.updates.medsec_kit import MedsecV1Kit
from harness.updates.registry import formats, kit_for
from harness.updates.swupdate import SwupdateKit
from tests.integration import swupdate_agent

REPO = Path(__file__).resolve().parents[2]


def _pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def ed25519_file(tmp_path: Path) -> Path:
    path = tmp_path / "ed25519.pem"
    path.write_bytes(_pem(ed25519.Ed25519PrivateKey.generate()))
    return path


# --- the registry ---------------------------------------------------------------------------


def test_every_profile_image_format_has_a_registered_kit() -> None:
    profiled = typing.get_args(Update.model_fields["image_format"].annotation)
    assert formats() == tuple(sorted(profiled)) == ("detached", "medsec-v1", "swupdate")
    assert (DetachedKit.format, MedsecV1Kit.format, SwupdateKit.format) == (
        "detached",
        medsec_v1.FORMAT,
        "swupdate",
    )


def test_kit_for_builds_the_profiled_format(lab_profile: Profile) -> None:
    kit = kit_for(lab_profile)
    assert isinstance(kit, MedsecV1Kit)
    assert kit.spec.hardware == "1.0"
    assert kit.spec.model == "IP-100"


def test_an_unknown_image_format_is_unsupported_and_names_the_known_ones(
    lab_profile: Profile,
) -> None:
    assert lab_profile.update is not None
    vendor = lab_profile.update.model_copy(update={"image_format": "vendor-x"})
    profile = lab_profile.model_copy(update={"update": vendor})
    with pytest.raises(Unsupported) as raised:
        kit_for(profile)
    assert isinstance(raised.value, NotSupported)
    assert str(raised.value) == (
        "no image kit builds the 'vendor-x' format (known: detached, medsec-v1, swupdate)"
    )


# --- @derives: each kit names what it can express ------------------------------------------


def test_the_medsec_kit_derives_its_own_attacks_through_its_marks(ed25519_file: Path) -> None:
    kit = MedsecV1Kit(KitSpec("IP-100", "1.0", "9.9", 1 << 20, ed25519_file))
    assert MedsecV1Kit.derivers[Attack.EMBEDDED_KEY] == "_embedded_key"
    image = kit.derive(Attack.EMBEDDED_KEY, "2.5.0")
    assert image.name == "embedded-key"
    assert medsec_v1.parse(image.data).header.signer_public_key is not None


def test_the_detached_kit_names_only_what_it_can_express(ed25519_file: Path) -> None:
    kit = DetachedKit(KitSpec("X", "1.0", "9.9", 1 << 16, ed25519_file))
    assert set(DetachedKit.derivers) == {
        Attack.OVERSIZED,
        Attack.UNSIGNED,
        Attack.MALFORMED_SIGNATURE,
        Attack.MIXED_SIGNATURE,
        Attack.ALTERED_PAYLOAD,
        Attack.UNTRUSTED_KEY,
    }
    assert kit.derive(Attack.UNSIGNED, "1.1.0").signature is None
    with pytest.raises(Unsupported, match=r"^the detached format cannot express embedded-key$"):
        kit.derive(Attack.EMBEDDED_KEY, "1.1.0")


def test_the_swupdate_kit_overrides_an_inherited_derive(tmp_path: Path) -> None:
    swupdate_agent.prepare(tmp_path, "127.0.0.1", "unused")
    kit = SwupdateKit(
        KitSpec(
            "ip100",
            "1.0",
            "9.9",
            1 << 16,
            tmp_path / "keys/vendor.key",
            tmp_path / "keys/vendor.crt",
            tmp_path / "swu/sw-description.in",
            (tmp_path / "swu/firmware.bin", tmp_path / "swu/version.txt.in"),
        )
    )
    assert SwupdateKit.derivers[Attack.OVERSIZED] == "oversized"  # inherited mark, own method
    image = kit.derive(Attack.OVERSIZED, "3.0.0")
    assert image.description.startswith("payload file firmware.bin")
    assert image.size == kit.spec.oversize


def test_a_new_kit_inherits_the_base_marks_and_adds_its_own() -> None:
    class Plain(ImageKit):
        format = "plain"

        def build(
            self, version: str, *, hardware: str | None = None, model: str | None = None
        ) -> UpdateImage:
            return UpdateImage("valid", version.encode(), "plain", version=version)

        def regions(self, image: UpdateImage) -> dict[str, tuple[int, int]]:
            return {"payload": (0, len(image.data))}

        @derives(Attack.UNSIGNED)
        def _unsigned(self, valid: UpdateImage) -> UpdateImage:
            return valid.derived(Attack.UNSIGNED, valid.data, "as is")

    assert Plain.derivers == {Attack.OVERSIZED: "oversized", Attack.UNSIGNED: "_unsigned"}
    kit = Plain(KitSpec("m", "1", "2", 10, Path("unused")))
    assert kit.derive(Attack.UNSIGNED, "1.0").description == "as is"
    with pytest.raises(Unsupported, match="plain format cannot express altered-metadata"):
        kit.derive(Attack.ALTERED_METADATA, "1.0")


# --- the signing key -------------------------------------------------------------------------


def test_the_key_loader_takes_the_kinds_each_format_signs_with(
    ed25519_file: Path, tmp_path: Path
) -> None:
    ecdsa = tmp_path / "ec.pem"
    ecdsa.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    assert isinstance(load_ed25519_key(ed25519_file), ed25519.Ed25519PrivateKey)
    assert isinstance(load_private_key(ecdsa), ec.EllipticCurvePrivateKey)
    with pytest.raises(MedsecError, match="the signing key must be Ed25519"):
        load_ed25519_key(ecdsa)
    with pytest.raises(MedsecError, match="cannot load the signing key"):
        load_private_key(tmp_path / "missing.pem")


# --- updates/ is pure ----------------------------------------------------------------------

IO_MODULES = {
    "asyncio",
    "http",
    "multiprocessing",
    "paramiko",
    "requests",
    "selectors",
    "serial",
    "shutil",
    "socket",
    "ssl",
    "subprocess",
    "tempfile",
    "urllib",
}
WRITES = {"write_bytes", "write_text", "mkdir", "unlink", "rmdir", "touch", "rename", "open"}


def test_updates_open_no_socket_write_no_file_and_start_no_process() -> None:
    found = []
    for path in sorted((REPO / "harness" / "updates").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                names = []
            found += [f"{where} imports {n}" for n in names if n.split(".")[0] in IO_MODULES]
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "open":
                    found.append(f"{where} calls open()")
                if isinstance(func, ast.Attribute) and func.attr in WRITES:
                    found.append(f"{where} calls .{func.attr}()")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr != "urandom"
            ):
                found.append(f"{where} uses os.{node.attr}")
    assert not found, found
