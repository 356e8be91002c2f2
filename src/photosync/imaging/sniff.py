"""What a file is and how big it claims to be, from its first bytes only.

Nothing here decodes pixels. These checks run before Pillow sees the data, so a hostile file
(an SVG with a script, a 30000×30000 PNG, a GIF with a million frames) is refused before it can
cost memory or time. File names and Content-Type headers are never consulted: clients lie
(msgraph-sdk sends every photo as application/octet-stream).
"""

from __future__ import annotations

import re
import struct

from photosync.imaging import errors

__all__ = ["declared_size", "gif_frame_count", "jpeg_size", "sniff"]

# BITMAPCOREHEADER, INFOHEADER, V2, V3, OS/2 2.x, V4, V5: a "BM" without one of these is text.
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_HEIF_BRANDS = {b"heic": "heic", b"heix": "heic", b"hevc": "heic", b"mif1": "heic"}
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MARKUP_HEAD = 4096
_SVG_TAG = re.compile(r"<svg[\s>/:]")
_HTML_TAGS = re.compile(r"<(!doctype\s+html|html|head|body|script|iframe|meta|title|div|a\s)")


def sniff(data: bytes) -> str | None:
    """The kind of file, from magic bytes.

    One of "jpeg", "png", "gif", "bmp", "webp" (images we may accept); "svg", "html", "zip",
    "heic", "avif", "tiff" (kinds we name in the refusal); None for anything else.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in _HEIF_BRANDS:
            return _HEIF_BRANDS[brand]
    return _markup_kind(data[:_MARKUP_HEAD])


def _markup_kind(head: bytes) -> str | None:
    """ "svg" or "html" for text that starts like markup, whatever its encoding or prolog."""
    if head.startswith(b"\xef\xbb\xbf"):
        text = head[3:].decode("utf-8", "ignore")
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", "ignore")
    elif head[1:2] == b"\x00" and head[:1] in (b"<", b" ", b"\n", b"\r", b"\t"):
        text = head.decode("utf-16-le", "ignore")
    else:
        text = head.decode("utf-8", "ignore")
    text = text.lstrip(" \t\r\n\f\ufeff").lower()
    if not text.startswith("<"):
        return None
    # An HTML page may embed an <svg>; what it starts as decides what it is.
    if text.startswith(("<!doctype html", "<html")):
        return "html"
    if _SVG_TAG.search(text) or text.startswith("<!doctype svg"):
        return "svg"
    if _HTML_TAGS.search(text):
        return "html"
    return None


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG from its SOF segment, without decoding.

    Raises ImageRejected ("not_an_image" or "corrupt") when there is no readable frame header.
    """
    if not data.startswith(b"\xff\xd8"):
        raise errors.ImageRejected("not_an_image", "This file is not a JPEG image.", 415)
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS:
            if pos + 9 > end or length < 7:
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise errors.corrupt()


def declared_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) the header of a `kind` file declares, or None when it cannot be read.

    None is not a verdict: Pillow reads the header again and has the last word.
    """
    try:
        if kind == "jpeg":
            return jpeg_size(data)
        if kind == "png" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if kind == "gif":
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if kind == "bmp":
            if int.from_bytes(data[14:18], "little") == 12:
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)  # negative height means top-down rows
        if kind == "webp":
            return _webp_size(data)
    except (errors.ImageRejected, struct.error):
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended format: 24-bit canvas size minus one
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy key frame
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":  # lossless: 14-bit sizes minus one
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def gif_frame_count(data: bytes, stop_after: int | None = None) -> int:
    """How many frames (image descriptors) a GIF holds, by walking its blocks without decoding.

    Pillow's own `n_frames` decodes every frame to find the next one, which is exactly the cost a
    hostile many-frame GIF wants us to pay. Counting stops after `stop_after` frames, and at a
    trailer, an unknown block or the end of the data (truncated files are Pillow's to judge).
    """
    end = len(data)
    if end < 13:
        return 0
    pos = 13
    flags = data[10]
    if flags & 0x80:  # global colour table
        pos += 3 << ((flags & 0x07) + 1)
    frames = 0
    while pos < end:
        block = data[pos]
        if block == 0x2C:  # image descriptor, then optional local colour table, then LZW data
            frames += 1
            if stop_after is not None and frames >= stop_after:
                return frames
            if pos + 10 > end:
                break
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 0x07) + 1)
            pos = _skip_sub_blocks(data, pos + 1)  # +1: LZW minimum code size
        elif block == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        else:  # 0x3B trailer, or garbage after the last frame
            break
    return frames


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """Position after a chain of length-prefixed sub-blocks ending in a zero-length one."""
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos
