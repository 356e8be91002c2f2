"""Type and size from header bytes only: sniff, jpeg_size, declared_size, gif_frame_count."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from PIL import Image

from photosync.imaging import ImageRejected, jpeg_size, sniff
from photosync.imaging.sniff import declared_size, gif_frame_count
from photosync.imaging.testimages import gif_with_frames, photo_jpeg, png_declaring


def encoded(
    fmt: str, size: tuple[int, int] = (7, 5), mode: str = "RGB", **options: object
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "orange").save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("BMP", "bmp"), ("WEBP", "webp")],
)
def test_sniff_recognises_the_images_we_take(fmt: str, expected: str) -> None:
    assert sniff(encoded(fmt)) == expected


@pytest.mark.parametrize(
    "text",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"\n\n   \t<svg width='10'></svg>",
        b"\xef\xbb\xbf<?xml version='1.0'?><!-- made by hand -->\n<svg/>",
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n<svg></svg>',
        "\ufeff<svg></svg>".encode("utf-16"),
        b"<SVG VIEWBOX='0 0 1 1'></SVG>",
    ],
)
def test_sniff_finds_svg_behind_prologs_whitespace_and_byte_order_marks(text: bytes) -> None:
    assert sniff(text) == "svg"


@pytest.mark.parametrize(
    "text",
    [
        b"<!DOCTYPE html><html><body><img src=x></body></html>",
        b"  <html><svg></svg></html>",  # an HTML page that embeds an SVG is still a page
        b"\xef\xbb\xbf<head><script>x()</script></head>",
    ],
)
def test_sniff_recognises_html(text: bytes) -> None:
    assert sniff(text) == "html"


def test_sniff_recognises_zip_tiff_heic_avif() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("photo.txt", "hello")
    assert sniff(archive.getvalue()) == "zip"
    assert sniff(encoded("TIFF")) == "tiff"
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "heic"
    assert sniff(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1") == "avif"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(range(256)) * 4,
        b"BM this is a text that starts like a bitmap",
        b"<?xml version='1.0'?><note>not a picture</note>",
        b"just some words",
        b"\xff\xd8",  # a JPEG's first two bytes are not a JPEG
    ],
)
def test_sniff_answers_none_for_anything_else(data: bytes) -> None:
    assert sniff(data) is None


def test_sniff_ignores_what_follows_the_magic_bytes() -> None:
    # A JPEG with a ZIP appended is, by its first bytes, a JPEG: decoding decides the rest.
    assert sniff(encoded("JPEG") + b"PK\x03\x04rest-of-a-zip") == "jpeg"


def test_jpeg_size_reads_the_frame_header_without_decoding() -> None:
    data = photo_jpeg(321, 123, quality=80)
    assert jpeg_size(data) == (321, 123)
    # Progressive (SOF2) and a big APP1 before the frame header.
    exif = Image.Exif()
    exif[0x010E] = "x" * 5000  # ImageDescription
    assert jpeg_size(encoded("JPEG", (40, 30), progressive=True, exif=exif)) == (40, 30)
    # Everything after the header may be missing: the size is still known.
    assert jpeg_size(data[:700]) == (321, 123)


def test_jpeg_size_refuses_what_is_no_jpeg() -> None:
    with pytest.raises(ImageRejected) as refused:
        jpeg_size(encoded("PNG"))
    assert refused.value.reason == "not_an_image"
    with pytest.raises(ImageRejected) as refused:
        jpeg_size(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")  # cut before any frame header
    assert refused.value.reason == "corrupt"


def test_declared_size_of_each_format() -> None:
    assert declared_size(encoded("PNG", (17, 9)), "png") == (17, 9)
    assert declared_size(encoded("GIF", (17, 9)), "gif") == (17, 9)
    assert declared_size(encoded("BMP", (17, 9)), "bmp") == (17, 9)
    assert declared_size(encoded("JPEG", (17, 9)), "jpeg") == (17, 9)
    assert declared_size(encoded("WEBP", (17, 9), quality=80), "webp") == (17, 9)  # VP8
    assert declared_size(encoded("WEBP", (17, 9), lossless=True), "webp") == (17, 9)  # VP8L
    assert declared_size(encoded("WEBP", (17, 9), mode="RGBA"), "webp") == (17, 9)  # VP8X
    assert declared_size(png_declaring(30000, 30000), "png") == (30000, 30000)


def test_declared_size_of_a_top_down_bmp_is_positive() -> None:
    bmp = bytearray(encoded("BMP", (6, 4)))
    bmp[22:26] = struct.pack("<i", -4)  # negative height: rows stored top to bottom
    assert declared_size(bytes(bmp), "bmp") == (6, 4)


def test_gif_frame_count_walks_blocks_without_decoding() -> None:
    assert gif_frame_count(gif_with_frames(1)) == 1
    assert gif_frame_count(gif_with_frames(37)) == 37
    assert gif_frame_count(gif_with_frames(5000), stop_after=101) == 101
    # Pillow agrees on a file it wrote, with a global palette and local ones.
    frames = [Image.new("P", (9, 9), i) for i in range(5)]
    for i, frame in enumerate(frames):
        frame.putpalette([i * 40, 0, 255 - i * 40] * 256)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], comment=b"hello")
    assert gif_frame_count(out.getvalue()) == Image.open(out).n_frames == 5


def test_gif_frame_count_stops_at_truncation() -> None:
    assert gif_frame_count(gif_with_frames(10)[:-40]) < 10
    assert gif_frame_count(b"GIF89a") == 0
