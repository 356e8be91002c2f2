"""Getting any decoded image to 8-bit sRGB (or grey) on white, the only thing renditions hold.

Split in two around the resize, so the expensive conversions run on the small master rather
than on the full source: `normalise` makes a mode Pillow can resample well, `finish` flattens
alpha, converts CMYK and applies the embedded colour profile.
"""

from __future__ import annotations

import io

from PIL import Image

try:  # Pillow built without LittleCMS still works, just without colour management.
    from PIL import ImageCms
except ImportError:  # pragma: no cover - every wheel on PyPI ships it
    ImageCms = None  # type: ignore[assignment]

__all__ = ["finish", "needs_colour_management", "normalise"]

# Modes `normalise` returns: all resample correctly (Pillow premultiplies alpha for LA/RGBA).
RESAMPLABLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
WHITE = (255, 255, 255)


def normalise(image: Image.Image) -> Image.Image:
    """The image in one of RESAMPLABLE, with its transparency as an alpha channel."""
    mode = image.mode
    has_key = "transparency" in image.info  # tRNS colour key or GIF/PNG palette transparency
    if mode in ("L", "RGB") and has_key:
        return image.convert("RGBA")
    if mode in RESAMPLABLE:
        return image
    if mode in ("P", "PA"):
        # Resizing a palette image would silently fall back to nearest-neighbour.
        return image.convert("RGBA" if mode == "PA" or has_key else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    if mode in _SIXTEEN_BIT:
        # convert("L") would clip everything above 255 to white; scale 0..65535 onto 0..255.
        return image.convert("I").point(lambda value: value / 257 + 0.5).convert("L")
    if mode == "F":
        return image.convert("L")
    return image.convert("RGB")


def finish(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """ "RGB" or "L" pixels in sRGB, alpha flattened onto white."""
    if image.mode in ("LA", "RGBA"):
        flat = Image.new("RGB", image.size, WHITE)
        flat.paste(image.convert("RGB"), mask=image.getchannel("A"))
        image = flat
    if image.mode in ("RGB", "CMYK") and needs_colour_management(icc_profile, image.mode):
        assert icc_profile is not None
        converted = _to_srgb(image, icc_profile)
        if converted is not None:
            return converted
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    return image


def needs_colour_management(icc_profile: bytes | None, mode: str) -> bool:
    """Whether the embedded profile says these pixels are not already sRGB.

    Phones save Display P3 and cameras Adobe RGB; stripping such a profile without converting
    would show every face a little grey. sRGB-tagged files (most of them) skip the transform.
    """
    if not icc_profile or ImageCms is None:
        return False
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)).profile
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False  # a broken profile is ignored, not a reason to refuse the photo
    space = profile.xcolor_space.strip()
    if space != {"RGB": "RGB", "CMYK": "CMYK"}.get(mode):
        return False
    description = (profile.profile_description or "").lower()
    return "srgb" not in description


def _to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    assert ImageCms is not None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
