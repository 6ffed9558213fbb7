"""The image kit: one valid signed image per version, and every attack image derived from it.

Each format (`medsec-v1`, `swupdate`, `detached`) is an `ImageKit`. The kit builds the
valid image of a version with the profile's trusted key; every attack changes exactly one
thing of it and says what, so the evidence can show the change next to the device's
answer. A kit marks the method that makes each of its own attacks with `@derives(attack)`;
attacks a format cannot express raise `Unsupported` with the reason.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from harness.config.profile import Profile
from harness.updates.attacks import Attack, Unsupported, UpdateImage

OVERSIZE_MARGIN = 1024 * 1024  # bytes beyond update.max_size the endless image sends
OVERSIZE_CAP = 512 * 1024 * 1024  # our own cap on any endless image, whatever the profile says
TRUNCATIONS = {
    Attack.TRUNCATED_HEADER: "header",
    Attack.TRUNCATED_PAYLOAD: "payload",
    Attack.TRUNCATED_SIGNATURE: "signature",
}
_DERIVES = "derives_attack"  # the attribute @derives sets on a method

Method = TypeVar("Method", bound=Callable[..., UpdateImage])


def derives(attack: Attack) -> Callable[[Method], Method]:
    """Mark a kit method `(self, valid) -> image` as the one that makes `attack`."""

    def mark(method: Method) -> Method:
        setattr(method, _DERIVES, attack)
        return method

    return mark


@dataclass(frozen=True)
class KitSpec:
    """What every image for this device carries, from the profile's update section."""

    model: str
    hardware: str
    foreign_hardware: str
    max_size: int
    signing_key: Path
    signing_cert: Path | None = None
    description_template: Path | None = None
    payload: tuple[Path, ...] = ()

    @property
    def oversize(self) -> int:
        """Total bytes of the endless-data image: past the device's limit, within our cap."""
        return min(self.max_size + OVERSIZE_MARGIN, OVERSIZE_CAP)


class ImageKit(abc.ABC):
    """Builds valid images of one format and derives the attack images from them."""

    format: ClassVar[str]  # set by @register_kit
    carries_model: ClassVar[bool] = True  # whether an image names the device model
    derivers: ClassVar[dict[Attack, str]] = {}  # attack -> the @derives method's name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.derivers = {
            getattr(member, _DERIVES): name
            for klass in reversed(cls.__mro__)
            for name, member in vars(klass).items()
            if hasattr(member, _DERIVES)
        }

    def __init__(self, spec: KitSpec) -> None:
        self.spec = spec

    @abc.abstractmethod
    def build(
        self, version: str, *, hardware: str | None = None, model: str | None = None
    ) -> UpdateImage:
        """A correctly signed image of `version` (for another hardware or model if given)."""

    @abc.abstractmethod
    def regions(self, image: UpdateImage) -> dict[str, tuple[int, int]]:
        """Byte ranges of `header`, `payload` and `signature` in the image's data."""

    def derive(self, attack: Attack, version: str) -> UpdateImage:
        """The `attack` image of `version`; Unsupported if this format cannot express it."""
        if attack in (Attack.VALID, Attack.ROLLBACK, Attack.REINSTALL):
            image = self.build(version)
            what = {
                Attack.VALID: "correctly signed image",
                Attack.ROLLBACK: "correctly signed image of an older version",
                Attack.REINSTALL: "correctly signed image of the running version",
            }[attack]
            return UpdateImage(
                attack.value,
                image.data,
                f"{what} {version}",
                version=version,
                signature=image.signature,
            )
        if attack is Attack.WRONG_HARDWARE:
            foreign = self.spec.foreign_hardware
            image = self.build(version, hardware=foreign)
            return UpdateImage(
                attack.value,
                image.data,
                f"correctly signed image of {version} for hardware revision {foreign!r} "
                f"(the device is {self.spec.hardware!r})",
                version=version,
                signature=image.signature,
            )
        if attack is Attack.WRONG_MODEL:
            if not self.carries_model:
                raise Unsupported(f"a {self.format} image does not name the device model")
            other = f"{self.spec.model}-OTHER"
            image = self.build(version, model=other)
            return UpdateImage(
                attack.value,
                image.data,
                f"correctly signed image of {version} for model {other!r} "
                f"(the device is {self.spec.model!r})",
                version=version,
                signature=image.signature,
            )
        valid = self.build(version)
        if attack in TRUNCATIONS:
            return self.truncated(valid, attack)
        name = self.derivers.get(attack)
        if name is None:
            raise Unsupported(f"the {self.format} format cannot express {attack.value}")
        derive: Callable[[UpdateImage], UpdateImage] = getattr(self, name)
        return derive(valid)

    def truncated(self, valid: UpdateImage, attack: Attack) -> UpdateImage:
        """The image cut in the middle of one region; nothing after it is sent."""
        region = TRUNCATIONS[attack]
        spans = self.regions(valid)
        if region not in spans:
            raise Unsupported(f"a {self.format} image has no {region} region to cut")
        start, end = spans[region]
        cut = start + max(1, (end - start) // 2)
        return valid.derived(
            attack,
            valid.data[:cut],
            f"cut after byte {cut} of {len(valid.data)}, in the middle of the {region} "
            f"(bytes {start}-{end})",
        )

    @derives(Attack.OVERSIZED)
    def oversized(self, valid: UpdateImage) -> UpdateImage:
        """The valid image followed by endless filler, past update.max_size."""
        filler = max(0, self.spec.oversize - len(valid.data))
        return valid.derived(
            Attack.OVERSIZED,
            valid.data,
            f"valid image followed by {filler} filler bytes: {len(valid.data) + filler} bytes "
            f"in all, beyond update.max_size {self.spec.max_size}",
            filler=filler,
        )


def spec_for(profile: Profile) -> KitSpec:
    """The kit's inputs from the profile; LookupError names what is missing."""
    update = profile.update
    if update is None:
        raise LookupError("the profile has no update section")
    hardware = update.hardware or profile.device.hardware
    if hardware is None:
        raise LookupError("set update.hardware (or device.hardware) to build images")
    return KitSpec(
        model=profile.device.model,
        hardware=hardware,
        foreign_hardware=update.foreign_hw_revision,
        max_size=update.max_size,
        signing_key=update.signing_key,
        signing_cert=update.signing_cert,
        description_template=update.description_template,
        payload=update.payload_files,
    )
