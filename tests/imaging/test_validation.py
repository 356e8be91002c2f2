"""Every refusal: its reason, its HTTP status, a message a person understands, and that it comes
before any decoding where the brief says so."""

from __future__ import annotations

import io
import os
import time
import tracemalloc
import zipfile

import pytest
from PIL import Image, ImageFile

from photosync.imaging import CropBox, ImageRejected, Limits, process_upload
from photosync.imaging.testimages import gif_with_frames, photo_jpeg, png_declaring

SITES_LIMITS = Limits(max_bytes=5_000_000, allowed=frozenset({"jpeg", "png", "bmp"}))


def refusal(data: bytes, **options: object) -> ImageRejected:
    with pytest.raises(ImageRejected) as refused:
        process_upload(data, **options)  # type: ignore[arg-type]
    return refused.value


def encoded(fmt: str, size: tuple[int, int] = (20, 10), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, fmt, **options)
    return out.getvalue()


def test_empty_body() -> None:
    error = refusal(b"")
    assert (error.reason, error.status) == ("empty", 400)
    assert "empty" in error.message


def test_too_large_is_checked_first_and_names_both_sizes() -> None:
    # Random bytes over the limit: the size is what is wrong first, not the type.
    error = refusal(os.urandom(4 * 1024 * 1024 + 200_000))
    assert (error.reason, error.status) == ("too_large", 413)
    assert error.message == "The file is 4.2 MB; photos can be at most 4 MB."
    # One byte over must not read "4.0 MB; at most 4 MB".
    error = refusal(b"\xff\xd8\xff" + b"\x00" * (4 * 1024 * 1024 - 2))
    assert error.message == "The file is 4,194,305 bytes; photos can be at most 4,194,304 bytes."
    # SharePoint's limit is 5,000,000 bytes: spoken in decimal megabytes.
    error = refusal(b"\x00" * 6_000_000, limits=SITES_LIMITS)
    assert error.message == "The file is 6 MB; photos can be at most 5 MB."


def test_a_file_at_exactly_the_limit_is_judged_on_its_content() -> None:
    data = photo_jpeg(64, 48)
    assert process_upload(data, limits=Limits(max_bytes=len(data))).master_size == 48


def test_random_bytes_are_not_an_image() -> None:
    error = refusal(os.urandom(5000))
    assert (error.reason, error.status) == ("not_an_image", 415)
    assert error.message == (
        "This file is not an image; upload a JPEG, PNG, GIF, BMP or WebP photo."
    )


def test_html_is_refused_as_a_web_page() -> None:
    error = refusal(b"<!doctype html><html><img src=x onerror=alert(1)></html>")
    assert (error.reason, error.status) == ("not_an_image", 415)
    assert "web page" in error.message


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b'<?xml version="1.0" standalone="no"?>\r\n<svg onload="alert(1)"/>',
        b"\xef\xbb\xbf   \n<svg/>",
    ],
)
def test_svg_is_refused_with_the_formats_to_use_instead(svg: bytes) -> None:
    error = refusal(svg)
    assert (error.reason, error.status) == ("unsupported_type", 415)
    assert error.message == (
        "This file is an SVG drawing; upload a JPEG, PNG, GIF, BMP or WebP photo."
    )


def test_zip_alone_is_refused() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("me.jpg", photo_jpeg(32, 32))  # a photo inside does not make it one
    error = refusal(archive.getvalue())
    assert (error.reason, error.status) == ("not_an_image", 415)
    assert "ZIP" in error.message


def test_heic_gets_a_message_that_names_it() -> None:
    error = refusal(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100)
    assert (error.reason, error.status) == ("unsupported_type", 415)
    assert "HEIC" in error.message


def test_types_outside_allowed_are_refused_by_name() -> None:
    for fmt, name in (("GIF", "GIF"), ("WEBP", "WebP")):
        error = refusal(encoded(fmt), limits=SITES_LIMITS)
        assert (error.reason, error.status) == ("unsupported_type", 415)
        assert error.message == (
            f"{name} images are not accepted here; upload a JPEG, PNG or BMP photo."
        )
    # ...while the same file is fine where the format is allowed.
    assert process_upload(encoded("GIF")).source_format == "gif"


def test_content_type_and_names_play_no_part() -> None:
    # A PNG is a PNG whatever it was called; the API has no way to pass a name or type.
    photo = process_upload(encoded("PNG"), sizes=(8,))
    assert photo.source_format == "png"


def test_decompression_bomb_refused_from_the_header_fast_and_without_allocating() -> None:
    bomb = png_declaring(30000, 30000)  # 900 megapixels declared in a few dozen bytes
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refusal(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 0.5
    assert peak < 1_000_000  # a decode would need 2.7 GB
    # "too_many_pixels", not "corrupt": refused on the declared size, before any IDAT is read.
    assert (error.reason, error.status) == ("too_many_pixels", 400)
    assert error.message == "The image is 30000×30000 pixels; at most 50 megapixels are allowed."


def test_our_pixel_limit_is_stricter_than_pillows_and_applies_first() -> None:
    # 64 megapixels: under Pillow's own bomb threshold (89 MP), over ours (50 MP).
    error = refusal(png_declaring(8000, 8000))
    assert error.reason == "too_many_pixels"
    assert "8000×8000" in error.message
    assert refusal(png_declaring(300, 300), limits=Limits(max_pixels=80_000)).reason == (
        "too_many_pixels"
    )


def test_pillow_global_guards_are_left_as_they_were() -> None:
    before = Image.MAX_IMAGE_PIXELS
    refusal(png_declaring(30000, 30000))
    process_upload(photo_jpeg(64, 64))
    assert before == Image.MAX_IMAGE_PIXELS and before is not None
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_gif_with_thousands_of_frames_is_refused_fast() -> None:
    started = time.perf_counter()
    error = refusal(gif_with_frames(20_000))
    assert time.perf_counter() - started < 0.5
    assert (error.reason, error.status) == ("too_many_frames", 400)
    assert error.message == "The animation has more than 100 frames; at most 100 are allowed."
    # At the limit it is fine, and only the first frame is used.
    assert process_upload(gif_with_frames(100), sizes=(48,)).master_size == 48
    assert refusal(gif_with_frames(6), limits=Limits(max_frames=5)).reason == "too_many_frames"


def test_animated_webp_and_apng_frame_counts_are_limited_too() -> None:
    frames = [Image.new("RGB", (16, 16), (i * 30, 0, 0)) for i in range(6)]
    for fmt in ("WEBP", "PNG"):
        out = io.BytesIO()
        frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=50)
        assert refusal(out.getvalue(), limits=Limits(max_frames=5)).reason == "too_many_frames"


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
def test_truncated_jpeg_is_refused_never_half_shown(cut: float) -> None:
    data = photo_jpeg(400, 300)
    error = refusal(data[: int(len(data) * cut)])
    assert (error.reason, error.status) == ("corrupt", 400)
    assert "damaged or incomplete" in error.message


def test_truncated_jpeg_is_refused_also_when_decoded_at_reduced_scale() -> None:
    data = photo_jpeg(1600, 1200)  # 96 px needs only 1/8 scale: the draft path
    assert refusal(data[: len(data) // 2], sizes=(96,)).reason == "corrupt"


def test_truncated_png_and_garbage_after_a_valid_header_are_corrupt() -> None:
    png = encoded("PNG", (300, 200))
    assert refusal(png[: len(png) // 2]).reason == "corrupt"
    jpeg = photo_jpeg(64, 64)
    assert refusal(jpeg[:400] + os.urandom(3000)).reason == "corrupt"
    assert refusal(b"GIF89a" + os.urandom(200)).reason in ("corrupt", "too_many_pixels")


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (0, 0)])
def test_zero_width_or_height_is_refused(width: int, height: int) -> None:
    error = refusal(png_declaring(width, height))
    assert (error.reason, error.status) == ("zero_size", 400)
    assert f"{width}×{height}" in error.message


@pytest.mark.parametrize(
    "crop",
    [
        CropBox(left=-1, top=0, side=10),
        CropBox(left=0, top=-5, side=10),
        CropBox(left=0, top=0, side=0),
        CropBox(left=50, top=0, side=60),  # past the right edge of a 100 px wide image
        CropBox(left=0, top=30, side=40),  # past the bottom of a 60 px high image
    ],
)
def test_crop_outside_the_image_is_refused(crop: CropBox) -> None:
    error = refusal(photo_jpeg(100, 60), crop=crop)
    assert (error.reason, error.status) == ("bad_crop", 400)
    assert "100×60" in error.message


def test_crop_is_checked_against_the_oriented_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 100×60, shown 60×100
    out = io.BytesIO()
    Image.new("RGB", (100, 60), "red").save(out, "JPEG", exif=exif)
    assert process_upload(out.getvalue(), crop=CropBox(0, 40, 60), sizes=(48,)).side == 60
    assert refusal(out.getvalue(), crop=CropBox(40, 0, 60)).reason == "bad_crop"


def test_invalid_sizes_are_a_programming_error() -> None:
    for sizes in ((), (0,), (4097,), (48.0,), (True,)):
        with pytest.raises(ValueError):
            process_upload(photo_jpeg(64, 64), sizes=sizes)  # type: ignore[arg-type]


def test_rejection_is_a_value_error_with_readable_repr() -> None:
    error = ImageRejected("corrupt", "Broken.", 400)
    assert isinstance(error, ValueError)
    assert str(error) == "Broken."
    assert repr(error) == "ImageRejected('corrupt', 'Broken.', status=400)"
    assert ImageRejected("x", "y").status == 400
