"""How fast and how good photosync's upload pipeline is, against the naive way and the decoder.

For each benchmark photo (bench/photos.py) it measures, in one run:
  (a) photosync: process_upload, the whole pipeline (validate, decode, square, 648 master, all
      smaller Graph sizes, encoded);
  (b) naive Pillow: full decode, centre crop, LANCZOS from the full square to each size, encode;
  (c) the floor: a bare JPEG decode at the DCT scale (a) uses, into the same YCbCr planes.
Then PSNR of (a) and (b) against a reference without JPEG loss (full decode, LANCZOS from full
resolution), and the peak memory one upload adds, in a fresh process.

Targets are printed next to the measurements with PASS/MISS; the exit status is always 0.
Run: .venv/bin/python bench/bench_imaging.py   (make bench)
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import simplejpeg
from PIL import Image, features

from _util import (
    interleaved_ms,
    peak_rss_mb,
    print_table,
    verdict,
)
from photos import PHOTOS, photo
from photosync.imaging import GRAPH_SIZES, process_upload
from photosync.imaging.testimages import psnr

QUALITY = 85  # the same JPEG settings for (a) and (b): quality 85, 4:2:0, baseline
TARGET_SPEEDUP = 8.0
TARGET_FLOOR_RATIO = 1.5
TARGET_PSNR_LOSS = 0.5
TARGET_MEMORY_MB = 64.0
# (a and c rounds, b rounds): enough for stable medians, under a minute on two busy cores.
REPEATS = {"12 MP": (15, 5), "1 MP": (25, 9), "648 px": (31, 15)}


def centre_box(width: int, height: int) -> tuple[float, float, float, float]:
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def offered_sizes(side: int) -> list[int]:
    return sorted((s for s in GRAPH_SIZES if s <= side), reverse=True) or [min(GRAPH_SIZES)]


def naive_pipeline(data: bytes) -> dict[int, bytes]:
    """What most code does: decode everything, then resize the full square once per size."""
    image = Image.open(io.BytesIO(data))
    image.load()
    box = centre_box(*image.size)  # resize(box=) is crop-then-resize without rounding the crop
    out: dict[int, bytes] = {}
    for size in offered_sizes(min(image.size)):
        buffer = io.BytesIO()
        image.resize((size, size), Image.Resampling.LANCZOS, box=box).save(
            buffer, "JPEG", quality=QUALITY, subsampling="4:2:0"
        )
        out[size] = buffer.getvalue()
    return out


def dct_scale(width: int, height: int) -> int:
    """The scale process_upload decodes at: the smallest picture still >= the master size."""
    side = min(width, height)
    master = offered_sizes(side)[0]
    return next(s for s in (8, 4, 2, 1) if side / s >= master)


def floor_decode(data: bytes, scale: int) -> Callable[[], object]:
    def decode() -> object:
        image = Image.open(io.BytesIO(data))
        image.draft("YCbCr", (image.width // scale, image.height // scale))
        image.load()
        return image

    return decode


def reference(data: bytes, size: int) -> Image.Image:
    """The best a resize can be: full resolution, LANCZOS, no JPEG loss."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB").resize(
        (size, size), Image.Resampling.LANCZOS, box=centre_box(*image.size)
    )


def decoded(jpeg: bytes) -> Image.Image:
    return Image.open(io.BytesIO(jpeg)).convert("RGB")


def main() -> None:
    started = time.perf_counter()
    print(
        f"photosync imaging bench: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
        f"Python {sys.version.split()[0]}, Pillow {Image.__version__} "
        f"(libjpeg-turbo {features.version('libjpeg_turbo')}), simplejpeg {simplejpeg.__version__}"
    )
    speed_rows, quality_rows = [], []
    results: dict[str, dict[str, float]] = {}
    for name in PHOTOS:
        data = photo(name)
        width, height = Image.open(io.BytesIO(data)).size
        scale = dct_scale(width, height)
        fast_rounds, naive_rounds = REPEATS[name]
        ours_fn = lambda data=data: process_upload(data)  # noqa: E731
        naive_fn = lambda data=data: naive_pipeline(data)  # noqa: E731
        times = interleaved_ms({"a": ours_fn, "c": floor_decode(data, scale)}, fast_rounds)
        times["b"] = interleaved_ms({"b": naive_fn}, naive_rounds)["b"]
        cpu = interleaved_ms({"a": ours_fn}, 7, clock=time.process_time)["a"]
        ours, naive = process_upload(data).renditions, naive_pipeline(data)
        measured = {
            "speedup": times["b"] / times["a"],
            "floor_ratio": times["a"] / times["c"],
        }
        speed_rows.append(
            [
                name,
                f"{len(data) / 1e6:.2f} MB",
                f"1/{scale}",
                times["a"],
                cpu,
                times["b"],
                times["c"],
                f"{measured['speedup']:.1f}×",
                f"{measured['floor_ratio']:.2f}",
            ]
        )
        for size in (max(ours), 96):
            target = reference(data, size)
            ours_db, naive_db = (
                psnr(decoded(ours[size]), target),
                psnr(decoded(naive[size]), target),
            )
            measured[f"psnr_{size}"] = ours_db - naive_db
            quality_rows.append([name, size, ours_db, naive_db, f"{ours_db - naive_db:+.2f}"])
        results[name] = measured

    print_table(
        [
            "photo",
            "bytes",
            "scale",
            "(a) ms",
            "(a) cpu ms",
            "(b) naive ms",
            "(c) floor ms",
            "b/a",
            "a/c",
        ],
        speed_rows,
        "Speed: medians; (a) and (c) timed interleaved; cpu = CPU time of all threads",
    )
    print_table(
        ["photo", "size", "(a) dB", "(b) dB", "a - b"],
        quality_rows,
        "Quality: PSNR against full-resolution LANCZOS without JPEG loss",
    )

    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as handle:
        handle.write(photo("12 MP"))
    try:
        load = f"data = open({handle.name!r}, 'rb').read()"
        memory_ours = peak_rss_mb(
            f"from photosync.imaging import process_upload\n{load}", "process_upload(data)"
        )
        memory_naive = peak_rss_mb(
            f"from bench_imaging import naive_pipeline\n{load}", "naive_pipeline(data)"
        )
    finally:
        os.unlink(handle.name)
    print_table(
        ["12 MP upload", "peak RSS above baseline"],
        [["(a) photosync", f"{memory_ours:.1f} MB"], ["(b) naive", f"{memory_naive:.1f} MB"]],
        "Memory: fresh process, after imports and reading the file",
    )

    big = results["12 MP"]
    checks = [
        (
            "b/a, × faster than naive",
            f">= {TARGET_SPEEDUP:g}",
            f"{big['speedup']:.1f}",
            big["speedup"] >= TARGET_SPEEDUP,
        ),
        (
            "a/c, × the decode floor",
            f"<= {TARGET_FLOOR_RATIO:g}",
            f"{big['floor_ratio']:.2f}",
            big["floor_ratio"] <= TARGET_FLOOR_RATIO,
        ),
        (
            "PSNR 648: a - b (dB)",
            f">= -{TARGET_PSNR_LOSS:g}",
            f"{big['psnr_648']:+.2f}",
            big["psnr_648"] >= -TARGET_PSNR_LOSS,
        ),
        (
            "PSNR 96: a - b (dB)",
            f">= -{TARGET_PSNR_LOSS:g}",
            f"{big['psnr_96']:+.2f}",
            big["psnr_96"] >= -TARGET_PSNR_LOSS,
        ),
        (
            "peak memory, one upload",
            f"<= {TARGET_MEMORY_MB:g} MB",
            f"{memory_ours:.1f} MB",
            memory_ours <= TARGET_MEMORY_MB,
        ),
    ]
    print_table(
        ["12 MP target", "goal", "measured", "verdict"],
        [[what, goal, value, verdict(ok)] for what, goal, value, ok in checks],
        "Targets",
    )
    print(f"\n{time.perf_counter() - started:.1f} s, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
