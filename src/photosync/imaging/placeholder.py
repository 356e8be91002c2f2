"""The "no picture" image: a neutral grey person silhouette, like Microsoft 365's."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw

from photosync.imaging.model import MAX_RENDER_SIZE
from photosync.imaging.renditions import encode

__all__ = ["placeholder"]

BACKGROUND = 224  # light grey
FIGURE = 158  # mid grey: visible on light and dark pages, says "nobody" without colour
_SUPERSAMPLE = 4  # draw big, then shrink: smooth edges without an anti-aliasing library


@lru_cache(maxsize=16)  # pages ask for the same few sizes over and over; the bytes never change
def placeholder(size: int) -> bytes:
    """A size×size baseline JPEG of a grey head-and-shoulders silhouette on lighter grey."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_RENDER_SIZE:
        raise ValueError(f"size must be a whole number from 1 to {MAX_RENDER_SIZE}: {size!r}")
    big = max(size, 64) * _SUPERSAMPLE
    canvas = Image.new("L", (big, big), BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    def at(fraction: float) -> int:
        return round(fraction * big)

    # Head: a circle a little above the middle. Shoulders: the top of a wide ellipse that runs
    # off the bottom edge, leaving a neck-shaped gap below the head.
    draw.ellipse((at(0.33), at(0.17), at(0.67), at(0.51)), fill=FIGURE)
    draw.ellipse((at(0.14), at(0.58), at(0.86), at(1.30)), fill=FIGURE)
    grey = canvas.resize((size, size), Image.Resampling.LANCZOS)
    half = (size + 1) // 2
    neutral = Image.new("L", (half, half), 128)
    return encode((grey, neutral, neutral))
