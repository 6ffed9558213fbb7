"""Which image kit builds which `update.image_format`.

Each kit registers itself with `@register_kit("name")`; the package imports every kit
module once (`harness/updates/__init__.py`), so `kit_for` finds them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from harness.config.profile import Profile
from harness.updates.attacks import Unsupported
from harness.updates.kit import ImageKit, spec_for

Kit = TypeVar("Kit", bound=type[ImageKit])

_KITS: dict[str, type[ImageKit]] = {}


def register_kit(image_format: str) -> Callable[[Kit], Kit]:
    """Class decorator: the kit builds images of `image_format` (also its `format`)."""

    def register(kit: Kit) -> Kit:
        if image_format in _KITS:
            raise ValueError(f"image format {image_format!r} is registered twice")
        kit.format = image_format
        _KITS[image_format] = kit
        return kit

    return register


def formats() -> tuple[str, ...]:
    """Every registered image format, sorted."""
    return tuple(sorted(_KITS))


def kit_for(profile: Profile) -> ImageKit:
    """The image kit of the profile's `update.image_format`.

    LookupError names what the profile lacks; Unsupported, a format no kit builds.
    """
    spec = spec_for(profile)
    assert profile.update is not None
    kit = _KITS.get(profile.update.image_format)
    if kit is None:
        raise Unsupported(
            f"no image kit builds the {profile.update.image_format!r} format "
            f"(known: {', '.join(formats())})"
        )
    return kit(spec)
