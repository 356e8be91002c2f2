"""The avatar images (pure): defaults drawn the same every time, photos never upscaled."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from photosync.imaging import render_square_sizes
from photosync.imaging.avatars import DEFAULT_KINDS, generated, initials_of, square_at
from photosync.imaging.testimages import photo_jpeg

DIGEST = "3" * 64


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("kind", DEFAULT_KINDS)
@pytest.mark.parametrize(("fmt", "format_name"), [("png", "PNG"), ("jpeg", "JPEG")])
@pytest.mark.parametrize("size", [1, 80, 512])
def test_each_default_is_deterministic_in_both_formats_at_any_size(
    kind: str, fmt: str, format_name: str, size: int
) -> None:
    data = generated(kind, DIGEST, size, fmt, name="Ada Lovelace")  # type: ignore[arg-type]
    assert data == generated(kind, DIGEST, size, fmt, name="Ada Lovelace")  # type: ignore[arg-type]
    image = opened(data)
    assert (image.format, image.size) == (format_name, (size, size))


def colours(data: bytes) -> list[tuple[int, tuple[int, int, int]]]:
    found = opened(data).convert("RGB").getcolors(1 << 16)
    assert found is not None
    return found  # type: ignore[return-value]


def test_initials_show_letters_and_depend_on_the_name() -> None:
    ada = generated("initials", DIGEST, 80, "png", name="Ada Lovelace")
    plain = generated("initials", DIGEST, 80, "png", name="")
    assert ada != plain
    assert len(colours(plain)) == 1  # one colour, no letters
    assert len(colours(ada)) > 2


@pytest.mark.parametrize(
    ("name", "letters"),
    [
        ("Ada Lovelace", "AL"),
        ("grace brewster hopper", "GH"),
        ("Cher", "C"),
        ("  ", ""),
        ("(x)", ""),
    ],
)
def test_initials_of(name: str, letters: str) -> None:
    assert initials_of(name) == letters


def test_a_photo_is_resized_down_and_a_stored_size_kept_as_it_is() -> None:
    master = render_square_sizes(photo_jpeg(300, 300), [120])[120]
    assert square_at(master, 120, "jpeg") == master
    assert opened(square_at(master, 80, "jpeg")).size == (80, 80)
    png = opened(square_at(master, 120, "png"))
    assert (png.format, png.size) == ("PNG", (120, 120))


def test_sizes_outside_the_renderable_range_are_refused() -> None:
    with pytest.raises(ValueError):
        generated("identicon", DIGEST, 0, "png")
