"""Deterministic photo-like images for tests and benchmarks.

Flat colours compress 50x better than photos and decode faster, so timings and quality numbers
measured on them say nothing about real uploads. These images mix what makes a photo expensive:
a 1/f ("fractal") luminance field, soft colour gradients, hard-edged shapes and sensor noise.
At 4000x3000 and quality 90 they come out near 2.6 MB, like a 12 MP phone photo.

Also hand-built files (bombs, many-frame GIFs, ICC profiles) and measuring helpers for tests.
Not used by the pipeline itself; numpy is only needed here.
"""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "SRGB_PRIMARIES",
    "gif_with_frames",
    "jpeg_segments",
    "photo_jpeg",
    "photo_like",
    "png_chunk",
    "png_declaring",
    "psnr",
    "rgb_icc_profile",
]


def _fractal(rng: np.random.Generator, width: int, height: int, octaves: int) -> np.ndarray:
    """Sum of upsampled random grids, amplitude halving per octave: a 1/f spectrum like nature's."""
    total = np.zeros((height, width), dtype=np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        cells = 3 * 2**octave
        grid_w = max(2, min(width, cells))
        grid_h = max(2, min(height, cells * height // max(width, 1) or 2))
        grid = rng.uniform(0.0, 255.0, (grid_h, grid_w)).astype(np.float32)
        layer = Image.fromarray(grid, mode="F").resize((width, height), Image.Resampling.BICUBIC)
        total += np.asarray(layer, dtype=np.float32) * amplitude
        amplitude *= 0.5
    total -= total.min()
    peak = float(total.max()) or 1.0
    return total * (255.0 / peak)


def photo_like(width: int, height: int, seed: int = 0, noise: float = 6.0) -> Image.Image:
    """An RGB image that looks and compresses roughly like a photo. Same seed, same pixels."""
    rng = np.random.default_rng(seed)
    octaves = max(1, min(9, int(np.log2(max(width, height) / 3))))
    luma = _fractal(rng, width, height, octaves)
    image = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        # Colour varies slowly (as in photos); detail lives in luminance.
        tint = _fractal(rng, width, height, 3)
        image[:, :, channel] = 0.65 * luma + 0.35 * tint
    del luma
    canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), mode="RGB")
    del image

    # Hard edges: shapes at several scales, translucent so the texture shows through them
    # (flat-filled shapes would compress far better than anything a camera produces).
    paint = Image.new("RGB", (width, height))
    mask = Image.new("L", (width, height))
    draw, draw_mask = ImageDraw.Draw(paint), ImageDraw.Draw(mask)
    short = min(width, height)
    for _ in range(40):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(2, short // 60), max(3, short // 8)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        opacity = int(rng.integers(90, 200))
        if rng.random() < 0.5:
            box = (x - r, y - r, x + r, y + int(r * 1.4))
            draw.ellipse(box, fill=colour)
            draw_mask.ellipse(box, fill=opacity)
        else:
            box = (x - r, y - r // 2, x + r // 2, y + r)
            draw.rectangle(box, fill=colour)
            draw_mask.rectangle(box, fill=opacity)
        if rng.random() < 0.3:
            line = (x - 2 * r, y, x + 2 * r, y + r)
            draw.line(line, fill=(250, 250, 250), width=max(1, r // 12))
            draw_mask.line(line, fill=230, width=max(1, r // 12))
    canvas = Image.composite(paint, canvas, mask)
    del paint, mask
    canvas = canvas.filter(ImageFilter.GaussianBlur(max(0.5, short / 3000)))

    # Sensor noise, in bands of rows so a 12 MP image never needs a float copy of itself.
    pixels = np.asarray(canvas).copy()
    band = 256
    for top in range(0, height, band):
        rows = pixels[top : top + band]
        grain = rng.normal(0.0, noise, rows.shape).astype(np.float32)
        pixels[top : top + band] = np.clip(rows + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def photo_jpeg(
    width: int, height: int, seed: int = 0, quality: int = 90, **save_options: object
) -> bytes:
    """`photo_like` saved as a JPEG (baseline, 4:2:0 unless `save_options` say otherwise)."""
    out = io.BytesIO()
    photo_like(width, height, seed).save(out, "JPEG", quality=quality, **save_options)
    return out.getvalue()


# --- Hand-built files: the hostile and odd inputs no encoder will write for us. ---------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_declaring(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG whose IHDR claims width×height but whose IDAT holds a few bytes: a decompression
    bomb's header (or, with a zero side, an image of nothing)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


def gif_with_frames(frames: int) -> bytes:
    """A 1×1 animated GIF with `frames` frames, each behind a graphic control extension."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (
        b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 0.1 s delay
        + b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # image descriptor, no local table
        + b"\x02\x02\x44\x01\x00"  # LZW: min code size 2, one sub-block, terminator
    )
    return header + loop + frame * frames + b"\x3b"


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the first scan: where metadata would hide."""
    segments: list[tuple[int, bytes]] = []
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        if marker == 0xDA:
            break
        pos += 2 + length
    return segments


def psnr(image: Image.Image, reference: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB of two same-size images, compared as RGB."""
    a = np.asarray(image.convert("RGB"), dtype=np.float64)
    b = np.asarray(reference.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def rgb_icc_profile(
    primaries: tuple[tuple[float, float, float], ...], description: str, gamma: float = 2.2
) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 XYZ primaries (R, G, B).

    Pillow can only create sRGB, Lab and XYZ profiles; tests need a different RGB space to see
    that colour management happens.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(s15(v) for v in values)

    text = description.encode("ascii")
    desc = (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(text) + 1)
        + text
        + b"\x00"
        + b"\x00" * 8  # no Unicode description
        + b"\x00\x00\x00"
        + b"\x00" * 67  # no ScriptCode description
    )
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(primaries[0])),
        (b"gXYZ", xyz(primaries[1])),
        (b"bXYZ", xyz(primaries[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00test\x00\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, payload in tags:
        table += signature + struct.pack(">II", offset + len(body), len(payload))
        body += payload + b"\x00" * (-len(payload) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + b"\x02\x10\x00\x00"
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\x00" * 24
        + b"\x00\x00\x00\x00"  # rendering intent
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"lcms"
        + b"\x00" * 44
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# sRGB's primaries adapted to D50, as every sRGB ICC profile states them.
SRGB_PRIMARIES = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
