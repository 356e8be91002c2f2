"""What comes out of process_upload: sizes, pixels, colours, orientation, crops, nothing else."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from photosync.imaging import GRAPH_SIZES, CropBox, jpeg_size, process_upload
from photosync.imaging.testimages import (
    SRGB_PRIMARIES,
    jpeg_segments,
    photo_jpeg,
    photo_like,
    png_chunk,
    psnr,
    rgb_icc_profile,
)

RED, GREEN, BLUE, WHITE, YELLOW = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 255),
    (255, 255, 0),
)
SOF_BASELINE, SOF_PROGRESSIVE = 0xC0, 0xC2


def decoded(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    return image


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def quadrants(size: tuple[int, int], colours: tuple[tuple[int, int, int], ...]) -> Image.Image:
    """Top-left, top-right, bottom-left, bottom-right in the given colours: no symmetry."""
    width, height = size
    image = Image.new("RGB", size)
    for index, colour in enumerate(colours):
        x, y = index % 2, index // 2
        image.paste(
            colour, (x * width // 2, y * height // 2, (x + 1) * width // 2, (y + 1) * height // 2)
        )
    return image


def quadrant_colours(source: bytes | Image.Image) -> list[tuple[int, ...]]:
    """Colours at the centres of the four quadrants: TL, TR, BL, BR."""
    image = (decoded(source) if isinstance(source, bytes) else source).convert("RGB")
    w, h = image.size
    return [image.getpixel((x, y)) for y in (h // 4, 3 * h // 4) for x in (w // 4, 3 * w // 4)]  # type: ignore[misc]


def assert_colours(
    actual: list[tuple[int, ...]], expected: list[tuple[int, ...]] | tuple[tuple[int, ...], ...]
) -> None:
    assert all(near(a, e, 14) for a, e in zip(actual, expected, strict=True)), (actual, expected)


FOUR = (RED, GREEN, BLUE, YELLOW)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    # 1400×1300: a 648 master needs only half the rows, so JPEGs of it take the DCT-scaled path.
    return photo_like(1400, 1300, seed=7)


# --- sizes ---------------------------------------------------------------------------------------


def test_a_large_upload_offers_all_nine_sizes_as_exact_baseline_420_squares(
    photo: Image.Image,
) -> None:
    result = process_upload(saved(photo, "JPEG", quality=90))
    assert list(result.renditions) == sorted(GRAPH_SIZES, reverse=True)
    assert (result.source_format, result.source_width, result.source_height) == ("jpeg", 1400, 1300)
    assert result.side == 1300 and result.master_size == 648
    for size, jpeg in result.renditions.items():
        image = decoded(jpeg)
        assert image.size == (size, size) and image.mode == "RGB"
        assert jpeg_size(jpeg) == (size, size)
        segments = dict(jpeg_segments(jpeg))
        assert SOF_BASELINE in segments and SOF_PROGRESSIVE not in segments
        components = segments[SOF_BASELINE][6:]
        assert [components[i + 1] for i in (0, 3, 6)] == [0x22, 0x11, 0x11]  # 4:2:0


def test_a_504_upload_offers_all_but_648() -> None:
    result = process_upload(photo_jpeg(504, 600))
    assert sorted(result.renditions) == [48, 64, 96, 120, 240, 360, 432, 504]
    assert result.side == 504 and result.master_size == 504


def test_an_upload_smaller_than_every_size_gets_the_smallest_upscaled() -> None:
    result = process_upload(saved(Image.new("RGB", (30, 20), (200, 40, 90)), "PNG"))
    assert list(result.renditions) == [48] and result.side == 20
    image = decoded(result.renditions[48])
    assert image.size == (48, 48)
    assert near(image.getpixel((24, 24)), (200, 40, 90))  # type: ignore[arg-type]


def test_custom_sizes_are_offered_the_same_way() -> None:
    result = process_upload(photo_jpeg(300, 300), sizes=(48, 72, 200, 300, 400))
    assert sorted(result.renditions) == [48, 72, 200, 300]
    assert all(decoded(j).size == (s, s) for s, j in result.renditions.items())


# --- similarity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [648, 240, 96, 48])
def test_renditions_match_a_careful_full_resolution_resize(photo: Image.Image, size: int) -> None:
    """Within 0.5 dB of the naive way (full decode, LANCZOS from full size, Pillow encode)."""
    source = saved(photo, "JPEG", quality=92)
    square = Image.open(io.BytesIO(source)).crop((50, 0, 1350, 1300))
    reference = square.resize((size, size), Image.Resampling.LANCZOS)
    naive = decoded(saved(reference, "JPEG", quality=85))
    ours = decoded(process_upload(source).renditions[size])
    assert psnr(ours, reference) > psnr(naive, reference) - 0.5
    assert psnr(ours, reference) > 26


def test_non_jpeg_sources_match_too(photo: Image.Image) -> None:
    small = photo.resize((700, 650))
    reference = small.crop((25, 0, 675, 650)).resize((240, 240), Image.Resampling.LANCZOS)
    for fmt in ("PNG", "BMP", "WEBP"):
        options = {"lossless": True} if fmt == "WEBP" else {}
        ours = decoded(process_upload(saved(small, fmt, **options)).renditions[240])
        assert psnr(ours, reference) > 31, fmt


# --- crop ----------------------------------------------------------------------------------------


def test_non_square_is_cut_to_the_centre_square() -> None:
    # Wide: red | green | red, the green middle third is what a centre square keeps.
    wide = Image.new("RGB", (300, 100), RED)
    wide.paste(GREEN, (100, 0, 200, 100))
    master = decoded(process_upload(saved(wide, "PNG"), sizes=(96,)).renditions[96])
    assert all(near(master.getpixel((x, y)), GREEN) for x in (4, 48, 91) for y in (4, 91))  # type: ignore[arg-type]
    tall = wide.rotate(90, expand=True)
    master = decoded(process_upload(saved(tall, "PNG"), sizes=(96,)).renditions[96])
    assert near(master.getpixel((48, 4)), GREEN) and near(master.getpixel((48, 91)), GREEN)  # type: ignore[arg-type]


def test_crop_box_selects_that_square() -> None:
    image = quadrants((200, 100), FOUR)  # each quadrant 100×50
    result = process_upload(
        saved(image, "PNG"), crop=CropBox(left=100, top=0, side=50), sizes=(48,)
    )
    assert result.side == 50
    assert near(decoded(result.renditions[48]).getpixel((24, 24)), GREEN)  # type: ignore[arg-type]
    result = process_upload(
        saved(image, "PNG"), crop=CropBox(left=50, top=0, side=100), sizes=(48,)
    )
    assert_colours(quadrant_colours(result.renditions[48]), FOUR)


# --- orientation ---------------------------------------------------------------------------------


def with_orientation(image: Image.Image, orientation: int, **options: object) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return saved(image, "JPEG", quality=95, exif=exif, **options)


@pytest.mark.parametrize(
    ("orientation", "shown"),
    [
        (1, (RED, GREEN, BLUE, YELLOW)),
        (3, (YELLOW, BLUE, GREEN, RED)),  # turned 180°
        (6, (BLUE, RED, YELLOW, GREEN)),  # turned 90° clockwise
        (8, (GREEN, YELLOW, RED, BLUE)),  # turned 90° anticlockwise
        (2, (GREEN, RED, YELLOW, BLUE)),  # mirrored
    ],
)
def test_exif_orientation_is_applied(
    orientation: int, shown: tuple[tuple[int, int, int], ...]
) -> None:
    data = with_orientation(quadrants((96, 96), FOUR), orientation)
    result = process_upload(data, sizes=(64,))
    assert_colours(quadrant_colours(result.renditions[64]), shown)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_with_dct_scaled_decoding_and_a_crop(orientation: int) -> None:
    # 1600×1000 stored; a 96 master lets the decoder work at 1/8 scale. The crop is given in
    # the orientation the user sees, and must land on the same pixels whatever the EXIF says.
    stored = quadrants((1600, 1000), FOUR)
    shown = stored.transpose(
        {
            3: Image.Transpose.ROTATE_180,
            6: Image.Transpose.ROTATE_270,
            8: Image.Transpose.ROTATE_90,
        }[orientation]
    )
    width, height = shown.size
    crop = CropBox(left=width // 2 - 200, top=height // 2 - 200, side=400)  # straddles all four
    result = process_upload(with_orientation(stored, orientation), crop=crop, sizes=(96,))
    assert (result.source_width, result.source_height) == shown.size
    expected = shown.crop((crop.left, crop.top, crop.left + 400, crop.top + 400))
    assert_colours(quadrant_colours(result.renditions[96]), quadrant_colours(expected))


def test_orientation_swaps_the_reported_size() -> None:
    result = process_upload(with_orientation(Image.new("RGB", (120, 80), "gray"), 6), sizes=(48,))
    assert (result.source_width, result.source_height, result.side) == (80, 120, 80)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow says so, then we carry on
def test_broken_exif_is_ignored_not_fatal() -> None:
    data = saved(quadrants((64, 64), FOUR), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage")
    assert_colours(quadrant_colours(process_upload(data, sizes=(48,)).renditions[48]), FOUR)


# --- metadata ------------------------------------------------------------------------------------


def test_all_metadata_is_stripped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 40.0)
    icc = rgb_icc_profile(SRGB_PRIMARIES, "sRGB IEC61966-2.1 (test copy)")
    source = saved(
        photo_like(300, 300),
        "JPEG",
        exif=exif,
        icc_profile=icc,
        comment=b"taken at home",
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret</x:xmpmeta>",
    )
    source_markers = [m for m, _ in jpeg_segments(source)]
    assert 0xE1 in source_markers and 0xE2 in source_markers and 0xFE in source_markers
    # The GPS position really is in the source (and must not be in any output).
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)[2] == (51.0, 30.0, 12.5)

    for jpeg in process_upload(source).renditions.values():
        segments = jpeg_segments(jpeg)
        markers = {marker for marker, _ in segments}
        assert markers <= {0xE0, 0xDB, 0xC0, 0xC4, 0xDA, 0xDD}, sorted(hex(m) for m in markers)
        assert all(payload.startswith(b"JFIF\x00") for m, payload in segments if m == 0xE0)
        image = decoded(jpeg)
        assert (
            not image.getexif() and "icc_profile" not in image.info and "comment" not in image.info
        )
        for needle in (b"Exif", b"PhoneMaker", b"ICC_PROFILE", b"taken at home", b"secret"):
            assert needle not in jpeg


def test_png_text_and_exif_chunks_do_not_travel() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "my address is here")
    source = saved(Image.new("RGB", (64, 64), "navy"), "PNG", pnginfo=info, exif=exif)
    for jpeg in process_upload(source).renditions.values():
        assert b"PhoneMaker" not in jpeg and b"address" not in jpeg
        assert {m for m, _ in jpeg_segments(jpeg)} <= {0xE0, 0xDB, 0xC0, 0xC4, 0xDA, 0xDD}


# --- polyglots -----------------------------------------------------------------------------------


def test_jpeg_with_a_zip_appended_is_re_encoded_without_the_zip() -> None:
    archive = io.BytesIO()
    archive.write(photo_jpeg(200, 200))
    with zipfile.ZipFile(archive, "a") as z:  # a ZIP whose leading bytes are a JPEG
        z.writestr("secret-payload.txt", "this must never be served back " * 20)
    polyglot = archive.getvalue()
    assert zipfile.ZipFile(io.BytesIO(polyglot)).namelist() == ["secret-payload.txt"]
    result = process_upload(polyglot)
    assert result.source_format == "jpeg"
    for jpeg in result.renditions.values():
        assert b"PK\x03\x04" not in jpeg and b"PK\x01\x02" not in jpeg
        assert b"secret-payload" not in jpeg and b"never be served" not in jpeg
        assert decoded(jpeg).size[0] in GRAPH_SIZES


# --- colour and modes ----------------------------------------------------------------------------


def test_transparency_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 0))  # fully transparent red: must not show
    image.paste((0, 0, 255, 255), (32, 0, 64, 64))
    image.paste((0, 0, 0, 128), (0, 32, 32, 64))  # half-transparent black over white: grey
    colours = quadrant_colours(process_upload(saved(image, "PNG"), sizes=(48,)).renditions[48])
    assert near(colours[0], WHITE) and near(colours[1], BLUE) and near(colours[3], BLUE)
    assert near(colours[2], (127, 127, 127))


@pytest.mark.parametrize("mode", ["LA", "RGBA", "P"])
def test_other_transparent_modes_are_flattened_on_white(mode: str) -> None:
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    rgba.paste((0, 128, 0, 255), (20, 0, 40, 40))
    if mode == "LA":
        image, fmt = rgba.convert("LA"), "PNG"
    elif mode == "RGBA":
        image, fmt = rgba, "WEBP"
    else:  # palette with one transparent entry, as GIFs have
        image, fmt = rgba.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"
        image.info["transparency"] = image.getpixel((0, 0))
    jpeg = process_upload(saved(image, fmt), sizes=(40,)).renditions[40]
    left, right = decoded(jpeg).getpixel((5, 20)), decoded(jpeg).getpixel((35, 20))
    assert near(left, WHITE), left  # type: ignore[arg-type]
    assert not near(right, WHITE, 60), right  # type: ignore[arg-type]


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # red in ink
    cmyk.paste((255, 0, 255, 0), (32, 0, 64, 64))  # green
    data = saved(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    colours = quadrant_colours(process_upload(data, sizes=(48,)).renditions[48])
    assert near(colours[0], RED, 20) and near(colours[1], GREEN, 20)


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    values = np.zeros((32, 64), dtype=np.uint16)
    values[:, :32] = 0x8080  # 50% grey in 16 bits: clipping would make it white
    values[:, 32:] = 0x2020
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    jpeg = process_upload(saved(image, "PNG"), crop=CropBox(0, 0, 32), sizes=(32,)).renditions[32]
    assert near(decoded(jpeg).getpixel((16, 16)), (128, 128, 128), 4)  # type: ignore[arg-type]
    jpeg = process_upload(saved(image, "PNG"), crop=CropBox(32, 0, 32), sizes=(32,)).renditions[32]
    assert near(decoded(jpeg).getpixel((16, 16)), (32, 32, 32), 4)  # type: ignore[arg-type]


def test_48_bit_rgb_png_is_converted() -> None:
    pixels = np.zeros((16, 16, 3), dtype=">u2")
    pixels[...] = (65535, 0, 32896)
    rows = b"".join(b"\x00" + pixels[row].tobytes() for row in range(16))
    import struct
    import zlib

    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 16, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )
    jpeg = process_upload(png, sizes=(16,)).renditions[16]
    assert near(decoded(jpeg).getpixel((8, 8)), (255, 0, 128), 6)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "fmt"), [("P", "PNG"), ("L", "PNG"), ("1", "BMP"), ("L", "JPEG"), ("P", "BMP")]
)
def test_palette_grey_and_bilevel_sources_come_out_rgb(mode: str, fmt: str) -> None:
    image = quadrants((64, 64), (WHITE, (0, 0, 0), (0, 0, 0), WHITE)).convert(mode)
    jpeg = process_upload(saved(image, fmt), sizes=(48,)).renditions[48]
    assert decoded(jpeg).mode == "RGB"
    colours = quadrant_colours(jpeg)
    assert near(colours[0], WHITE) and near(colours[1], (0, 0, 0)) and near(colours[3], WHITE)


def test_rgb_coded_jpeg_without_ycbcr_is_handled() -> None:
    data = saved(quadrants((64, 64), FOUR), "JPEG", keep_rgb=True, quality=95)
    assert Image.open(io.BytesIO(data)).info.get("adobe_transform") == 0
    assert_colours(quadrant_colours(process_upload(data, sizes=(48,)).renditions[48]), FOUR)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animations_use_their_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, GREEN, BLUE)]
    data = saved(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    jpeg = process_upload(data, sizes=(32,)).renditions[32]
    assert near(decoded(jpeg).getpixel((16, 16)), RED, 16)  # type: ignore[arg-type]


# --- colour management ---------------------------------------------------------------------------

SWAPPED = rgb_icc_profile((SRGB_PRIMARIES[1], SRGB_PRIMARIES[0], SRGB_PRIMARIES[2]), "Swapped RG")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_embedded_colour_profile_is_applied_then_dropped(fmt: str) -> None:
    # In this (made-up) colour space, the first channel is sRGB's green.
    data = saved(Image.new("RGB", (32, 32), RED), fmt, icc_profile=SWAPPED)
    jpeg = process_upload(data, sizes=(32,)).renditions[32]
    assert near(decoded(jpeg).getpixel((16, 16)), GREEN, 20)  # type: ignore[arg-type]
    assert "icc_profile" not in decoded(jpeg).info


def test_srgb_and_broken_profiles_leave_colours_alone() -> None:
    srgb = rgb_icc_profile(SRGB_PRIMARIES, "sRGB IEC61966-2.1")
    for profile in (srgb, b"not a profile at all" * 10):
        data = saved(
            Image.new("RGB", (32, 32), (30, 140, 220)), "JPEG", quality=95, icc_profile=profile
        )
        jpeg = process_upload(data, sizes=(32,)).renditions[32]
        assert near(decoded(jpeg).getpixel((16, 16)), (30, 140, 220), 8)  # type: ignore[arg-type]


# --- how it decodes ------------------------------------------------------------------------------


@pytest.fixture
def draft_scales(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The DCT scale of every JPEG decode, as the decoder was configured."""
    scales: list[int] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None):  # type: ignore[no-untyped-def]
        answer = original(self, mode, size)
        scales.append(self.decoderconfig[0] if self.decoderconfig else 1)
        return answer

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    yield scales


def test_large_jpegs_are_never_decoded_at_full_size(draft_scales: list[int]) -> None:
    data = photo_jpeg(2700, 2100, quality=80)
    process_upload(data)  # the 648 master needs 2100/2 = 1050 rows: half scale
    process_upload(data, sizes=(48, 96))  # 2100/8 = 262 rows are plenty for 96
    process_upload(data, crop=CropBox(0, 0, 700))  # a 700 px crop needs full scale for 648
    assert draft_scales == [2, 8, 1]


def test_the_pipeline_is_pure_and_leaves_no_threads_behind(photo: Image.Image) -> None:
    data = saved(photo, "JPEG")
    copy = bytes(data)
    threads = threading.active_count()
    first, second = process_upload(data), process_upload(data)
    assert first == second and data == copy
    assert threading.active_count() == threads


def test_multi_picture_jpeg_uses_its_first_picture() -> None:
    # MPO: what phones write for portrait-mode and 3D shots; Pillow opens it as a JPEG.
    first, second = Image.new("RGB", (64, 64), RED), Image.new("RGB", (64, 64), BLUE)
    data = saved(first, "MPO", save_all=True, append_images=[second], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = process_upload(data, sizes=(48,))
    assert result.source_format == "jpeg"
    assert near(decoded(result.renditions[48]).getpixel((24, 24)), RED, 16)  # type: ignore[arg-type]


def test_cmyk_and_grey_jpegs_take_the_dct_scaled_path_too(draft_scales: list[int]) -> None:
    for mode, colour in (("CMYK", (0, 255, 255, 0)), ("L", 90)):
        image = Image.new(mode, (1600, 1200), colour)  # type: ignore[arg-type]
        rendition = process_upload(saved(image, "JPEG", quality=95), sizes=(96,)).renditions[96]
        expected = RED if mode == "CMYK" else (90, 90, 90)
        assert near(decoded(rendition).getpixel((48, 48)), expected, 20)  # type: ignore[arg-type]
    assert draft_scales == [8, 8]
