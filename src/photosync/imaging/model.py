"""The values the imaging API takes and gives: limits, crop squares and the finished photo set."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GRAPH_SIZES", "MAX_RENDER_SIZE", "CropBox", "Limits", "PhotoSet"]

# The square sizes Microsoft Graph serves for a user's photo; 648 is the stored master.
GRAPH_SIZES: tuple[int, ...] = (48, 64, 96, 120, 240, 360, 432, 504, 648)

# Largest size render_square_sizes makes: enough for any avatar, small enough that a typo
# cannot ask for a gigapixel upscale.
MAX_RENDER_SIZE = 4096


@dataclass(frozen=True)
class Limits:
    """What an upload may be. Defaults are Exchange's; SharePoint's SetMyProfilePicture takes
    5,000,000 bytes of JPEG, PNG or BMP."""

    max_bytes: int = 4 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_frames: int = 100
    allowed: frozenset[str] = frozenset({"jpeg", "png", "gif", "bmp", "webp"})


@dataclass(frozen=True)
class CropBox:
    """A square in the source image as the user sees it (after EXIF orientation), in its pixels."""

    left: int
    top: int
    side: int


@dataclass(frozen=True)
class PhotoSet:
    """Every offered square size of one upload, as baseline JPEG bytes with no metadata."""

    source_format: str  # "jpeg", "png", "gif", "bmp" or "webp"
    source_width: int  # after EXIF orientation
    source_height: int
    side: int  # side of the square cut from the source
    renditions: dict[int, bytes]  # size -> JPEG bytes, largest first

    @property
    def master_size(self) -> int:
        return max(self.renditions)
