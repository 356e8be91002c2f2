"""From upload bytes to the master's planes: validate, open lazily, decode small, orient.

Two steps with a hard line between them:

1. `open_upload` refuses everything it can from headers alone: size, type, pixel count, frame
   count. Pillow's `Image.open` is lazy (it parses the header, allocates nothing), so the pixel
   check runs before a single pixel is decoded.
2. `master_jobs` decodes as little as the master needs. JPEGs use libjpeg's DCT scaling
   (`draft`: 1/2, 1/4 or 1/8 of the size for almost the cost of entropy decoding alone) and stay
   in YCbCr, the planes the JPEG encoder wants back; everything else decodes in full, goes to
   8-bit RGB and is resized once.

The master comes back as separate luma and chroma jobs so `renditions` can run them on two cores.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from photosync.imaging import colour, errors
from photosync.imaging.model import Limits
from photosync.imaging.sniff import declared_size, gif_frame_count, sniff

__all__ = ["Box", "MasterJobs", "Opened", "master_jobs", "open_upload"]

Box = tuple[float, float, float, float]
Planes = tuple[Image.Image, Image.Image, Image.Image]

_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP", "webp": "WEBP"}
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_DCT_SCALES = (8, 4, 2, 1)
# LANCZOS keeps the master within 0.3 dB of the naive full-resolution resize
# (bench/bench_imaging.py); BICUBIC would cost another 0.2 dB to save 1 ms. A reducing gap
# of 2 only matters for sources more than twice the master's size after DCT scaling (big
# PNGs), where it halves the cost for no visible change.
MASTER_FILTER = Image.Resampling.LANCZOS
_REDUCING_GAP = 2.0
# Decoded chroma is libjpeg's 2× upsampling of the stored chroma: a 2×2 box average first
# (reducing gap 1) undoes that for half the cost of resampling it whole, within 0.3 dB.
_CHROMA_REDUCING_GAP = 1.0


@dataclass(frozen=True)
class Opened:
    """An upload that passed every header check, opened but not decoded."""

    image: Image.Image
    kind: str
    orientation: int  # EXIF orientation, 1..8
    width: int  # as the user sees it, after orientation
    height: int


@dataclass(frozen=True)
class MasterJobs:
    """Make the master's planes: luma (size×size) and chroma (two of ceil(size/2) square).

    Independent of each other, so they may run on different threads; Pillow releases the GIL.
    """

    size: int
    luma: Callable[[], Image.Image]
    chroma: Callable[[], tuple[Image.Image, Image.Image]]


def open_upload(data: bytes, limits: Limits) -> Opened:
    """Validate `data` from its headers and open it lazily; raise ImageRejected otherwise."""
    if not data:
        raise errors.empty()
    if len(data) > limits.max_bytes:  # before anything else: the cheapest refusal first
        raise errors.too_large(len(data), limits.max_bytes)
    kind = sniff(data)
    if kind not in _PILLOW_FORMATS or kind not in limits.allowed:
        raise errors.not_accepted(kind, limits.allowed)

    declared = declared_size(data, kind)
    if declared is not None:
        _check_size(*declared, limits)
    if kind == "gif" and gif_frame_count(data, limits.max_frames + 1) > limits.max_frames:
        raise errors.too_many_frames(limits.max_frames)

    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]])
        # GIF frames were counted above; Pillow would decode them all to count them.
        frames = 1 if kind == "gif" else int(getattr(image, "n_frames", 1))
    except Image.DecompressionBombError as error:
        # Pillow's own guard (on by default, deliberately left on) fired before ours could.
        width, height = declared or (None, None)
        raise errors.too_many_pixels(width, height, limits.max_pixels) from error
    except Exception as error:
        # Pillow's plugins answer hostile bytes with a zoo of exception types (SyntaxError,
        # struct.error, IndexError, ...); all of them mean the same thing to the uploader.
        raise errors.corrupt() from error
    _check_size(*image.size, limits)
    if frames > limits.max_frames:
        raise errors.too_many_frames(limits.max_frames)

    orientation = _orientation(image)
    width, height = image.size
    if orientation >= 5:
        width, height = height, width
    return Opened(image, kind, orientation, width, height)


def _check_size(width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise errors.zero_size(width, height)
    if width * height > limits.max_pixels:
        raise errors.too_many_pixels(width, height, limits.max_pixels)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1  # unreadable EXIF is metadata we drop anyway, not a reason to refuse
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def master_jobs(opened: Opened, box: Box, size: int) -> MasterJobs:
    """Decode `opened` as little as possible to make a size×size master from `box`.

    `box` is a square in oriented source pixels (floats allowed); it is mapped back onto the
    stored pixel grid, so rotation happens on the small master instead of the big source.
    """
    image = opened.image
    raw_box = _unorient(box, opened.orientation, image.width, image.height)
    icc = image.info.get("icc_profile")
    as_ycbcr = (
        opened.kind == "jpeg"
        and image.mode == "RGB"
        and _stores_ycbcr(image)
        and not colour.needs_colour_management(icc, "RGB")
    )
    scale = 1
    try:
        if opened.kind == "jpeg":
            scale = _dct_scale(raw_box[2] - raw_box[0], size)
            # Asking for w//s × h//s makes Pillow pick exactly scale s (see JpegImageFile.draft).
            image.draft(
                "YCbCr" if as_ycbcr else image.mode,
                (image.width // scale, image.height // scale),
            )
        image.load()
    except Exception as error:  # truncated, corrupt, unsupported variant: see open_upload
        raise errors.corrupt() from error

    scaled: Box = (raw_box[0] / scale, raw_box[1] / scale, raw_box[2] / scale, raw_box[3] / scale)
    orient = _orienter(opened.orientation)
    if image.mode == "YCbCr":
        return _ycbcr_jobs(image, scaled, size, orient)
    planes = _planes_via_rgb(image, scaled, size, icc, orient)
    return MasterJobs(size, lambda: planes[0], lambda: (planes[1], planes[2]))


def _ycbcr_jobs(
    image: Image.Image, box: Box, size: int, orient: Callable[[Image.Image], Image.Image]
) -> MasterJobs:
    # libjpeg already upsampled chroma to full resolution; it goes straight back down to the
    # 4:2:0 size of the master, so it is never resampled at full size twice.
    half = (size + 1) // 2
    chroma_box = _chroma_box(box, size, image.size)
    y, cb, cr = image.split()  # here, not in the jobs: they may run on two threads at once

    def luma() -> Image.Image:
        return orient(y.resize((size, size), MASTER_FILTER, box, _REDUCING_GAP))

    def chroma() -> tuple[Image.Image, Image.Image]:
        return (
            orient(cb.resize((half, half), MASTER_FILTER, chroma_box, _CHROMA_REDUCING_GAP)),
            orient(cr.resize((half, half), MASTER_FILTER, chroma_box, _CHROMA_REDUCING_GAP)),
        )

    return MasterJobs(size, luma, chroma)


def _planes_via_rgb(
    image: Image.Image,
    box: Box,
    size: int,
    icc: bytes | None,
    orient: Callable[[Image.Image], Image.Image],
) -> Planes:
    rgb = colour.normalise(image)
    master = rgb.resize((size, size), MASTER_FILTER, box, _REDUCING_GAP)
    master = orient(colour.finish(master, icc))
    half = (size + 1) // 2
    if master.mode == "L":
        grey = Image.new("L", (half, half), 128)
        return master, grey, grey
    y, cb, cr = master.convert("YCbCr").split()
    return y, _halve(cb, half), _halve(cr, half)


def _halve(plane: Image.Image, half: int) -> Image.Image:
    """4:2:0 chroma from full-resolution chroma: the 2×2 box average libjpeg itself would take."""
    if plane.width == 2 * half:
        return plane.reduce(2)
    # Odd sizes: the last chroma sample covers one real pixel and one of padding.
    return plane.resize((half, half), Image.Resampling.BOX)


def _chroma_box(box: Box, size: int, bounds: tuple[int, int]) -> Box:
    """The source region the ceil(size/2) chroma samples cover (one pixel more for odd sizes)."""
    left, top, right, bottom = box
    stretch = 2 * ((size + 1) // 2) / size
    return (
        left,
        top,
        min(left + (right - left) * stretch, bounds[0]),
        min(top + (bottom - top) * stretch, bounds[1]),
    )


def _stores_ycbcr(image: Image.Image) -> bool:
    """Whether a 3-component JPEG is YCbCr inside, by libjpeg's own rules (jdapimin.c).

    RGB-coded JPEGs (Adobe transform 0, component ids R, G, B) cannot be decoded to YCbCr.
    """
    if "jfif" in image.info:
        return True
    transform = image.info.get("adobe_transform")
    if transform is not None:
        return bool(transform != 0)
    ids = [layer[0] for layer in getattr(image, "layer", [])]
    return ids != [ord("R"), ord("G"), ord("B")]


def _dct_scale(side: float, size: int) -> int:
    """The largest JPEG DCT scale that still leaves at least `size` pixels across the square."""
    for scale in _DCT_SCALES:
        if side / scale >= size:
            return scale
    return 1


def _unorient(box: Box, orientation: int, width: int, height: int) -> Box:
    """Map a box from the oriented image back onto the stored (raw) pixel grid."""
    left, top, right, bottom = box

    def raw(x: float, y: float) -> tuple[float, float]:
        return {
            1: (x, y),
            2: (width - x, y),
            3: (width - x, height - y),
            4: (x, height - y),
            5: (y, x),
            6: (y, height - x),
            7: (width - y, height - x),
            8: (width - y, x),
        }[orientation]

    (x0, y0), (x1, y1) = raw(left, top), raw(right, bottom)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _orienter(orientation: int) -> Callable[[Image.Image], Image.Image]:
    method = _TRANSPOSE.get(orientation)
    if method is None:
        return lambda plane: plane
    return lambda plane: plane.transpose(method)
