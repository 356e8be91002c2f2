"""Every square size from the master, each made from the next larger one, encoded as JPEG.

Work happens on YCbCr planes, never on RGB: chroma is kept at 4:2:0 size all the way, so each
resize touches 1.5 samples per pixel instead of 3, and TurboJPEG encodes the planes as they are
(no colour conversion, no chroma downsampling, and no way for source metadata to leak in: the
encoder only ever sees raw samples). Luma and chroma chains run on two threads; Pillow and
simplejpeg release the GIL, so on two cores the pair costs about as much as luma alone.

Filters were measured against a full-resolution LANCZOS reference (bench/bench_imaging.py):
BICUBIC is enough for luma steps of less than 2×, but chroma loses up to 0.6 dB through a
chain of BICUBIC steps, so chroma uses LANCZOS (it is a quarter of the pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import simplejpeg
from PIL import Image

from photosync.imaging.decode import MasterJobs

__all__ = ["QUALITY", "Planes", "encode", "make_planes", "render"]

Planes = tuple[Image.Image, Image.Image, Image.Image]

QUALITY = 85
LUMA_FILTER = Image.Resampling.BICUBIC
CHROMA_FILTER = Image.Resampling.LANCZOS
# Below this master size a helper thread costs more than it saves.
_PARALLEL_FROM = 256


def render(
    jobs: MasterJobs, sizes: Sequence[int], quality: int = QUALITY, *, threads: bool = True
) -> dict[int, bytes]:
    """JPEG bytes for each of `sizes` (largest first); the largest is jobs.size."""
    order = sorted(set(sizes), reverse=True)
    if jobs.size < _PARALLEL_FROM or not threads:
        items = list(zip(order, make_planes(jobs, order), strict=True))
        return _encode_each(items, quality)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="photosync-imaging") as helper:
        items = list(zip(order, make_planes(jobs, order, helper), strict=True))
        # Share the encodes by pixel count: the master alone is about half of the work.
        mine: list[tuple[int, Planes]] = []
        theirs: list[tuple[int, Planes]] = []
        mine_pixels = theirs_pixels = 0
        for size, planes in items:
            if mine_pixels <= theirs_pixels:
                mine.append((size, planes))
                mine_pixels += size * size
            else:
                theirs.append((size, planes))
                theirs_pixels += size * size
        their_bytes = helper.submit(_encode_each, theirs, quality)
        encoded = _encode_each(mine, quality)
        encoded.update(their_bytes.result())
    return {size: encoded[size] for size in order}


def make_planes(
    jobs: MasterJobs, order: Sequence[int], helper: ThreadPoolExecutor | None = None
) -> list[Planes]:
    """Planes for each size in `order` (descending, order[0] == jobs.size)."""
    halves = [(size + 1) // 2 for size in order]

    def chroma_chains() -> tuple[list[Image.Image], list[Image.Image]]:
        cb, cr = jobs.chroma()
        return _chain(cb, halves, CHROMA_FILTER), _chain(cr, halves, CHROMA_FILTER)

    if helper is None:
        lumas = _chain(jobs.luma(), order, LUMA_FILTER)
        cbs, crs = chroma_chains()
    else:
        pending = helper.submit(chroma_chains)
        lumas = _chain(jobs.luma(), order, LUMA_FILTER)
        cbs, crs = pending.result()
    return list(zip(lumas, cbs, crs, strict=True))


def _chain(
    master: Image.Image, sizes: Sequence[int], resample: Image.Resampling
) -> list[Image.Image]:
    """Each size from the next larger one: every step is small, so it needs few filter taps."""
    out = [master]
    for size in sizes[1:]:
        previous = out[-1]
        if previous.width == size:
            out.append(previous)
        elif previous.width % size == 0:
            # Exact integer factors (240 -> 120, 96 -> 48): a box average is exact and 10× cheaper.
            out.append(previous.reduce(previous.width // size))
        else:
            out.append(previous.resize((size, size), resample))
    return out


def encode(planes: Planes, quality: int = QUALITY) -> bytes:
    """A baseline 4:2:0 JFIF JPEG of the planes, with no other metadata."""
    y, cb, cr = (np.asarray(plane) for plane in planes)
    return bytes(simplejpeg.encode_jpeg_yuv_planes(y, cb, cr, quality=quality))


def _encode_each(items: Sequence[tuple[int, Planes]], quality: int) -> dict[int, bytes]:
    return {size: encode(planes, quality) for size, planes in items}
