"""The imaging entry points: an upload to its photo set, a master to more sizes, the directory
thumbnail. Pure functions: bytes in, bytes out, no I/O, nothing global changed."""

from __future__ import annotations

from collections.abc import Sequence

from photosync.imaging import errors
from photosync.imaging.decode import Box, Opened, master_jobs, open_upload
from photosync.imaging.model import GRAPH_SIZES, MAX_RENDER_SIZE, CropBox, Limits, PhotoSet
from photosync.imaging.renditions import encode, make_planes, render

__all__ = ["directory_thumbnail", "process_upload", "render_square_sizes", "square_master"]

THUMBNAIL_SIZE = 64
# Exchange keeps thumbnailPhoto under 10 KB in practice; the attribute allows 100 KB.
THUMBNAIL_TARGET_BYTES = 10 * 1024
THUMBNAIL_MAX_BYTES = 102_400
_THUMBNAIL_QUALITIES = (85, 75, 65, 50, 35, 20)


def process_upload(
    data: bytes,
    *,
    limits: Limits = Limits(),
    crop: CropBox | None = None,
    sizes: Sequence[int] = GRAPH_SIZES,
) -> PhotoSet:
    """Validate an upload and make every offered square size of it.

    Offered: each of `sizes` no larger than the cut square; a square smaller than all of them
    still gets the smallest size (upscaled) rather than no photo. Raises ImageRejected.
    """
    wanted = _checked_sizes(sizes)
    opened = open_upload(data, limits)
    box, side = _square(opened, crop)
    offered = [size for size in wanted if size <= side] or [min(wanted)]
    renditions = render(master_jobs(opened, box, max(offered)), offered)
    return PhotoSet(opened.kind, opened.width, opened.height, side, renditions)


def square_master(data: bytes, *, limits: Limits = Limits(), largest: int) -> PhotoSet:
    """Validate an image and cut its centre square, at most ``largest`` pixels and never
    upscaled (a connector's source photo, whatever its size). Raises ImageRejected."""
    (size,) = _checked_sizes([largest])
    opened = open_upload(data, limits)
    box, side = _square(opened, None)
    size = min(size, side)
    renditions = render(master_jobs(opened, box, size), [size])
    return PhotoSet(opened.kind, opened.width, opened.height, side, renditions)


def render_square_sizes(
    square_jpeg: bytes, sizes: Sequence[int], *, threads: bool = True
) -> dict[int, bytes]:
    """Square JPEGs of `sizes` from a stored master (any size up to 4096; larger ones upscale).

    A master that is not square is centre-cropped. Raises ImageRejected for bytes that are not
    a readable image, ValueError for sizes outside 1..4096. ``threads``: luma and chroma on two
    threads (see ``renditions``); a caller whose processes already keep every core busy says
    False.
    """
    wanted = _checked_sizes(sizes)
    opened = open_upload(square_jpeg, Limits())
    box, _ = _square(opened, None)
    return render(master_jobs(opened, box, max(wanted)), wanted, threads=threads)


def directory_thumbnail(square_jpeg: bytes) -> bytes:
    """The directory's thumbnailPhoto: 64×64 JPEG, quality lowered until it is at most 10 KB."""
    opened = open_upload(square_jpeg, Limits())
    box, _ = _square(opened, None)
    (planes,) = make_planes(master_jobs(opened, box, THUMBNAIL_SIZE), [THUMBNAIL_SIZE])
    for quality in _THUMBNAIL_QUALITIES:
        thumbnail = encode(planes, quality)
        if len(thumbnail) <= THUMBNAIL_TARGET_BYTES:
            break
    # 64×64 pixels cannot reach 100 KB at any quality; this guards the attribute's hard limit.
    assert len(thumbnail) <= THUMBNAIL_MAX_BYTES
    return thumbnail


def _checked_sizes(sizes: Sequence[int]) -> list[int]:
    wanted = sorted(set(sizes), reverse=True)
    if not wanted:
        raise ValueError("at least one size is needed")
    for size in wanted:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_RENDER_SIZE:
            raise ValueError(f"sizes must be whole numbers from 1 to {MAX_RENDER_SIZE}: {size!r}")
    return wanted


def _square(opened: Opened, crop: CropBox | None) -> tuple[Box, int]:
    """The square to cut, in oriented source pixels, and its side."""
    width, height = opened.width, opened.height
    if crop is None:
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        return (left, top, left + side, top + side), side
    fits = (
        crop.side >= 1
        and crop.left >= 0
        and crop.top >= 0
        and crop.left + crop.side <= width
        and crop.top + crop.side <= height
    )
    if not fits:
        raise errors.bad_crop(crop.left, crop.top, crop.side, width, height)
    box = (crop.left, crop.top, crop.left + crop.side, crop.top + crop.side)
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3])), crop.side
