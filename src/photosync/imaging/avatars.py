"""Avatars for the Libravatar/Gravatar URL: the person's photo at any size, and the generated
defaults (``mp``, ``identicon``, ``retro``, ``initials``, ``blank``) for people without one.

Pure functions of their arguments: the same digest, name and size always give the same bytes
(the ETag of a default is a hash of them, and unknown and photo-less people must look alike).
The generators are drawn here with Pillow rather than taken from a package: the ones on the
package index (pydenticon and its kin) are unmaintained and each draws one style; these are a
few lines each on the Pillow this project already uses.
"""

from __future__ import annotations

import hashlib
import io
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from photosync.imaging.model import MAX_RENDER_SIZE
from photosync.imaging.pipeline import render_square_sizes
from photosync.imaging.placeholder import placeholder
from photosync.imaging.sniff import jpeg_size

__all__ = [
    "DEFAULT_KINDS",
    "AvatarFormat",
    "generated",
    "initials_of",
    "square_at",
]

AvatarFormat = Literal["jpeg", "png"]
DefaultKind = Literal["mp", "identicon", "retro", "initials", "blank"]
DEFAULT_KINDS: tuple[DefaultKind, ...] = ("mp", "identicon", "retro", "initials", "blank")
MEDIA_TYPES: dict[AvatarFormat, str] = {"jpeg": "image/jpeg", "png": "image/png"}

_SUPERSAMPLE = 4  # draw big, then shrink: smooth diagonals without an anti-aliasing library
# The largest canvas drawn: 4× for small sizes, less for large ones, so that an address nobody
# has (anyone can make up millions) never costs more than a 1024 px drawing.
_MAX_CANVAS = 1024
_BACKGROUND = (240, 240, 240)
_JPEG_QUALITY = 85


def square_at(square_jpeg: bytes, size: int, fmt: AvatarFormat) -> bytes:
    """A stored square JPEG (a mailbox rendition at least ``size`` wide) at ``size``, in
    ``fmt``: reduced-scale decoding and resizing by the photo pipeline, never an upscale
    beyond the source (the caller picks a source at or above ``size``)."""
    # A PNG of a stored size is that rendition's pixels, not a second lossy encode of them.
    same = jpeg_size(square_jpeg) == (size, size)
    jpeg = square_jpeg if same else render_square_sizes(square_jpeg, [size])[size]
    if fmt == "jpeg":
        return jpeg
    with Image.open(io.BytesIO(jpeg)) as image:
        return _encode(image.convert("RGB"), "png")


def generated(
    kind: DefaultKind, digest: str, size: int, fmt: AvatarFormat, *, name: str = ""
) -> bytes:
    """The default image ``kind`` for the address ``digest`` at ``size`` in ``fmt``.

    ``name``: the words whose initials ``initials`` shows (nothing: a plain coloured square).
    """
    if isinstance(size, bool) or not 1 <= size <= MAX_RENDER_SIZE:
        raise ValueError(f"size must be a whole number from 1 to {MAX_RENDER_SIZE}: {size!r}")
    seed = hashlib.sha256(digest.encode()).digest()
    if kind == "mp":
        if fmt == "jpeg":
            return placeholder(size)
        with Image.open(io.BytesIO(placeholder(size))) as image:
            return _encode(image.convert("RGB"), fmt)
    if kind == "blank":
        # Transparent where the format can say so (PNG); white in a JPEG.
        mode, colour = ("RGBA", (255, 255, 255, 0)) if fmt == "png" else ("RGB", (255, 255, 255))
        return _encode(Image.new(mode, (size, size), colour), fmt)
    if kind == "identicon":
        return _encode(_identicon(seed, size), fmt)
    if kind == "retro":
        return _encode(_retro(seed, size), fmt)
    return _encode(_initials(seed, size, initials_of(name)), fmt)


def initials_of(name: str) -> str:
    """At most two letters: the first of the first and of the last word ("Ada Lovelace": AL)."""
    words = [word for word in name.split() if word[:1].isalnum()]
    if not words:
        return ""
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


# --- the generators ----------------------------------------------------------------------


def _colour(seed: bytes) -> tuple[int, int, int]:
    """A saturated, mid-dark colour from the seed: white letters stay legible on it."""
    hue = int.from_bytes(seed[:2], "big") / 65535
    image = Image.new("HSV", (1, 1), (round(hue * 255), 170, 170)).convert("RGB")
    r, g, b = image.getpixel((0, 0))  # type: ignore[misc]
    return int(r), int(g), int(b)


def _retro(seed: bytes, size: int) -> Image.Image:
    """A 5×5 grid of square pixels, mirrored left to right (8-bit style, as ivatar's retro)."""
    cells = 5
    grid = Image.new("RGB", (cells, cells), _BACKGROUND)
    colour = _colour(seed[8:])
    bits = int.from_bytes(seed[2:8], "big")
    for row in range(cells):
        for column in range((cells + 1) // 2):
            if bits >> (row * 3 + column) & 1:
                grid.putpixel((column, row), colour)
                grid.putpixel((cells - 1 - column, row), colour)
    # A margin of half a cell, as identicon services draw them; sharp edges at any size.
    framed = Image.new("RGB", (cells * 2 + 2, cells * 2 + 2), _BACKGROUND)
    framed.paste(grid.resize((cells * 2, cells * 2), Image.Resampling.NEAREST), (1, 1))
    return framed.resize((size, size), Image.Resampling.NEAREST)


def _identicon(seed: bytes, size: int) -> Image.Image:
    """A 4×4 quilt of triangle and square patches with four-fold symmetry (Don Park's idea)."""
    big = _canvas(size)
    image = Image.new("RGB", (big, big), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    colour = _colour(seed[16:])
    cell = big / 4
    for row in range(2):
        for column in range(2):
            shape = seed[row * 2 + column]
            for flip_x, flip_y in ((False, False), (True, False), (False, True), (True, True)):
                x0 = (3 - column if flip_x else column) * cell
                y0 = (3 - row if flip_y else row) * cell
                draw.polygon(_patch(shape, x0, y0, cell, flip_x, flip_y), fill=colour)
    return image.resize((size, size), Image.Resampling.LANCZOS)


# The patch shapes in a unit cell (x right, y down).
_PATCHES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((0, 0), (1, 0), (1, 1), (0, 1)),  # full square
    ((0, 0), (1, 0), (0, 1)),  # triangle, top left
    ((1, 0), (1, 1), (0, 1)),  # triangle, bottom right
    ((0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)),  # diamond
    ((0, 0), (1, 0.5), (0, 1)),  # arrow
    ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)),  # small square
)


def _patch(
    shape: int, x0: float, y0: float, cell: float, flip_x: bool, flip_y: bool
) -> list[tuple[float, float]]:
    """One cell's polygon, mirrored with its quadrant so that the whole is symmetric."""
    unit = _PATCHES[shape % len(_PATCHES)]
    return [
        (x0 + cell * (1 - x if flip_x else x), y0 + cell * (1 - y if flip_y else y))
        for x, y in unit
    ]


def _initials(seed: bytes, size: int, letters: str) -> Image.Image:
    """White initials centred on the colour of the address."""
    big = _canvas(size)
    image = Image.new("RGB", (big, big), _colour(seed))
    if letters:
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=big * (0.42 if len(letters) > 1 else 0.5))
        draw.text((big / 2, big / 2), letters, fill=(255, 255, 255), font=font, anchor="mm")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _canvas(size: int) -> int:
    return max(min(size * _SUPERSAMPLE, _MAX_CANVAS), size, 256)


def _encode(image: Image.Image, fmt: AvatarFormat) -> bytes:
    """Deterministic bytes: no timestamps or metadata, fixed settings."""
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, "PNG", optimize=False, compress_level=6)
    else:
        image.convert("RGB").save(out, "JPEG", quality=_JPEG_QUALITY)
    return out.getvalue()
