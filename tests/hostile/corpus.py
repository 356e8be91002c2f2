"""The hostile-upload corpus, made here from Pillow and hand-built bytes (nothing downloaded).

Each item says what a correct server does with it: ``ACCEPT`` (stored, re-encoded), ``REFUSE``
(a 4xx and a sentence) or ``EITHER`` (a damaged file Pillow may still read part of: either is
right, a 5xx or a half-written photo never is). An item with a ``payload`` carries bytes that
must not survive in anything stored (a polyglot's ZIP or HTML, a comment's script).

``python tests/hostile/corpus.py DIR`` writes the files to look at them by hand.
"""

from __future__ import annotations

import functools
import io
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from photosync.imaging.sniff import sniff
from photosync.imaging.testimages import photo_like

ACCEPT, REFUSE, EITHER = "accept", "refuse", "either"
# Marks the bytes that must never be stored (they sit in no image's pixels).
PAYLOAD = b"HOSTILE-PAYLOAD-7f3a9c"


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes
    outcome: str  # ACCEPT, REFUSE or EITHER
    payload: bytes | None = None  # must not be found in any stored rendition
    content_type: str = "application/octet-stream"  # what an HTTP client declares
    frames: int = 1

    @property
    def file_name(self) -> str:
        """A file name for folder runs: the name's kind, as people name their files."""
        return self.name.replace(" ", "-").replace("/", "-")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def picture(width: int = 320, height: int = 240, seed: int = 3) -> Image.Image:
    return photo_like(width, height, seed=seed)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(**options: object) -> bytes:
    return encoded(picture(), "JPEG", quality=85, **options)


def with_jpeg_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """``data`` (a JPEG) with one more segment right after SOI."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def tiff_ifd(entries: list[tuple[int, int, int, int]], first_offset: int = 8) -> bytes:
    """A little-endian TIFF header and one IFD of (tag, type, count, value) entries."""
    body = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", first_offset) + body + b"\x00\x00\x00\x00"


def exif_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(picture(300, 200), "JPEG", quality=85, exif=exif.tobytes())


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupted(data: bytes) -> bytes:
    """Every 7th byte of the second half inverted: headers intact, the coded data garbage."""
    middle = len(data) // 2
    tail = bytes(b ^ 0xFF if i % 7 == 0 else b for i, b in enumerate(data[middle:]))
    return data[:middle] + tail


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) says width×height."""
    data = bytearray(jpeg())
    pos = data.index(b"\xff\xc0")
    data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    data = bytearray(encoded(picture(64, 64).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    pos = data.index(b"\x2c")  # the frame's own size too
    data[pos + 5 : pos + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def bmp_with_height(height: int) -> bytes:
    data = bytearray(encoded(picture(64, 64), "BMP"))
    data[22:26] = struct.pack("<i", height)
    return bytes(data)


def png_declaring(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def webp_declaring(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP header whose canvas is width×height, then a small real image."""
    small = encoded(picture(64, 64), "WEBP", quality=80)
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + small[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_with_chunks(*chunks: bytes) -> bytes:
    """A real PNG with ``chunks`` inserted after its header."""
    data = encoded(picture(64, 64), "PNG")
    end_of_ihdr = 8 + 8 + 13 + 4
    return data[:end_of_ihdr] + b"".join(chunks) + data[end_of_ihdr:]


def progressive_with_scans(copies: int, budget: int) -> bytes:
    """A progressive JPEG whose last scan is repeated up to ``copies`` times, in ``budget``
    bytes (libjpeg decodes every scan: the classic way to make a small file cost minutes)."""
    data = encoded(picture(128, 128), "JPEG", quality=80, progressive=True)
    last = data.rindex(b"\xff\xda")
    scan = data[last:-2]  # SOS .. entropy-coded data, before EOI
    copies = min(copies, (budget - len(data)) // len(scan))
    return data[:-2] + scan * copies + data[-2:]


def animated(fmt: str, frames: int = 3) -> bytes:
    images = [picture(120, 120, seed=seed) for seed in range(frames)]
    return encoded(images[0], fmt, save_all=True, append_images=images[1:], duration=100)


def zip_payload() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", PAYLOAD * 20)
    return out.getvalue()


HTML_PAYLOAD = b"<html><body><script>alert('" + PAYLOAD + b"')</script></body></html>"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600">'
    b"<script>alert(1)</script><circle cx='300' cy='300' r='200'/></svg>"
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
HEIC = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + b"\x00" * 64


def at_size(data: bytes, size: int) -> bytes:
    """A valid image padded with bytes after its end to exactly ``size`` bytes."""
    assert len(data) <= size
    return data + b"\x00" * (size - len(data))


def corpus(limit: int) -> list[Item]:
    """Every item, for a way in that takes at most ``limit`` bytes."""
    good_jpeg, good_png = jpeg(), encoded(picture(), "PNG")
    good_gif = encoded(picture().convert("P"), "GIF")
    good_webp = encoded(picture(), "WEBP", quality=80)
    zipped = zip_payload()
    items = [
        Item("empty", b"", REFUSE),
        Item("jpeg at the limit", at_size(good_jpeg, limit), ACCEPT),
        Item("jpeg one byte over the limit", at_size(good_jpeg, limit + 1), REFUSE),
        # Damaged files of each kind.
        *(
            Item(f"{kind} truncated", truncated(data), EITHER)
            for kind, data in (
                ("jpeg", good_jpeg),
                ("png", good_png),
                ("gif", good_gif),
                ("webp", good_webp),
            )
        ),
        *(
            Item(f"{kind} corrupt", corrupted(data), EITHER)
            for kind, data in (
                ("jpeg", good_jpeg),
                ("png", good_png),
                ("gif", good_gif),
                ("webp", good_webp),
            )
        ),
        Item("jpeg header only", good_jpeg[:200], REFUSE),
        # Headers declaring enormous sizes.
        Item("jpeg 65000x65000", jpeg_declaring(65_000, 65_000), REFUSE),
        Item("gif 65535x65535", gif_declaring(65_535, 65_535), REFUSE),
        Item("png 100000x100000", png_declaring(100_000, 100_000), REFUSE),
        Item("png 2^31-1 wide", png_declaring(2**31 - 1, 1), REFUSE),
        Item("webp 16384x16384", webp_declaring(16_384, 16_384), REFUSE),
        Item("bmp height -2^31", bmp_with_height(-(2**31)), REFUSE),
        Item("bmp height 2^31-1", bmp_with_height(2**31 - 1), REFUSE),
        Item("bmp top-down (negative height)", bmp_with_height(-64), ACCEPT),
        Item("jpeg 0x0", jpeg_declaring(0, 0), REFUSE),
        # PNG ancillary chunk bombs: a 100 MB zTXt and iCCP in 100 KB, 20,000 tEXt chunks.
        Item(
            "png ztxt bomb",
            png_with_chunks(
                png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 100_000_000, 9))
            ),
            EITHER,
        ),
        Item(
            "png iccp bomb",
            png_with_chunks(
                png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 100_000_000, 9))
            ),
            EITHER,
        ),
        Item(
            "png 20000 text chunks",
            png_with_chunks(
                *[png_chunk(b"tEXt", b"k%d\x00" % i + b"v" * 40) for i in range(20_000)]
            ),
            EITHER,
        ),
        Item("progressive jpeg 10000 scans", progressive_with_scans(10_000, limit), EITHER),
        Item("progressive jpeg", encoded(picture(), "JPEG", progressive=True), ACCEPT),
        # Animations: the first frame, or a refusal; never every frame's cost.
        Item("apng", animated("PNG"), ACCEPT, frames=3),
        Item("animated webp", animated("WEBP"), EITHER, frames=3),
        Item("animated gif", animated("GIF"), ACCEPT, frames=3),
        # Unusual but valid pixel formats.
        Item("png 16-bit grey", encoded(picture().convert("I;16"), "PNG"), ACCEPT),
        Item("png 16-bit rgb", _png_16bit_rgb(), ACCEPT),
        Item("jpeg cmyk", encoded(picture().convert("CMYK"), "JPEG"), ACCEPT),
        Item("png palette", encoded(picture().convert("P"), "PNG"), ACCEPT),
        Item("png grey+alpha", encoded(picture().convert("LA"), "PNG"), ACCEPT),
        Item("png rgba", encoded(picture().convert("RGBA"), "PNG"), ACCEPT),
        Item("bmp", encoded(picture(), "BMP"), ACCEPT),
        Item("jpeg 1x1", encoded(picture(1, 1), "JPEG"), ACCEPT),
        # EXIF: every orientation, and offsets that point nowhere.
        *(Item(f"jpeg exif orientation {n}", exif_jpeg(n), ACCEPT) for n in range(1, 9)),
        Item(
            "jpeg exif offset past the end",
            with_jpeg_segment(good_jpeg, 0xE1, b"Exif\x00\x00" + tiff_ifd([], 0x7FFFFFF0)),
            ACCEPT,
        ),
        Item(
            "jpeg exif entry offset past the end",
            with_jpeg_segment(
                good_jpeg,
                0xE1,
                b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 1, 6), (0x8769, 4, 1, 0xFFFFFF00)]),
            ),
            ACCEPT,
        ),
        Item(
            "jpeg exif orientation 9",
            with_jpeg_segment(good_jpeg, 0xE1, b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 1, 9)])),
            ACCEPT,
        ),
        # Polyglots: an image that is also an archive or a page.
        Item("jpeg+zip", good_jpeg + zipped, ACCEPT, payload=PAYLOAD),
        Item("png+zip", good_png + zipped, ACCEPT, payload=PAYLOAD),
        Item("gif+html", good_gif + HTML_PAYLOAD, ACCEPT, payload=PAYLOAD),
        Item("jpeg+html", good_jpeg + HTML_PAYLOAD, ACCEPT, payload=PAYLOAD),
        Item(
            "jpeg with html comment",
            with_jpeg_segment(good_jpeg, 0xFE, HTML_PAYLOAD),
            ACCEPT,
            payload=PAYLOAD,
        ),
        Item(
            "png with html text chunk",
            png_with_chunks(png_chunk(b"tEXt", b"Comment\x00" + HTML_PAYLOAD)),
            ACCEPT,
            payload=PAYLOAD,
        ),
        Item("zip", zipped, REFUSE),
        Item("html", HTML_PAYLOAD, REFUSE, content_type="text/html"),
        Item("html then jpeg", HTML_PAYLOAD + good_jpeg, REFUSE),
        # Kinds we do not take.
        Item("svg", SVG, REFUSE, content_type="image/svg+xml"),
        Item("pdf", PDF, REFUSE, content_type="application/pdf"),
        Item("tiff", encoded(picture(), "TIFF"), REFUSE, content_type="image/tiff"),
        Item("heic", HEIC, REFUSE, content_type="image/heic"),
        Item("text", b"just some words, not a picture\n", REFUSE),
    ]
    names = [item.name for item in items]
    assert len(names) == len(set(names)), "item names are test ids: keep them unique"
    return items


def for_sites(items: list[Item]) -> list[Item]:
    """The corpus as SharePoint's own uploads see it: JPEG, PNG and BMP stills only."""
    return [
        replace(item, outcome=REFUSE)
        if item.outcome == ACCEPT and (item.frames > 1 or sniff(item.data) in ("gif", "webp"))
        else item
        for item in items
    ]


def _png_16bit_rgb() -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one; built by hand)."""
    width, height = 48, 32
    rows = b"".join(
        b"\x00" + b"".join(struct.pack(">HHH", x * 1300, y * 2000, 40000) for x in range(width))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    target.mkdir(parents=True, exist_ok=True)
    for item in corpus(4 * 1024 * 1024):
        (target / f"{item.file_name}.bin").write_bytes(item.data)
    print(f"wrote {len(corpus(4 * 1024 * 1024))} files to {target}")
