"""Why an upload was refused, in words for people and codes for programs.

Every refusal the imaging package makes is an `ImageRejected`. The HTTP layers map it straight to a
response (`status`) and a Graph-style error body (`reason`, `message`), so the wording lives here,
in one place, instead of in each route.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ImageRejected"]

# Display names, in the order people expect to read them.
FORMAT_NAMES: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "bmp": "BMP",
    "webp": "WebP",
}

# What a refused kind of file is, as a phrase that fits "This file is ___".
_KIND_PHRASES: dict[str, str] = {
    "svg": "an SVG drawing",
    "html": "a web page (HTML), not an image",
    "zip": "a ZIP archive, not an image",
    "heic": "a HEIC photo (the iPhone format), which browsers cannot show",
    "avif": "an AVIF image, which not every browser can show",
    "tiff": "a TIFF image, which browsers cannot show",
}

_MIB = 1024 * 1024
_MB = 1_000_000


class ImageRejected(ValueError):
    """An upload the pipeline will not turn into a photo.

    reason: a stable machine code ("empty", "too_large", "not_an_image", "unsupported_type",
      "too_many_pixels", "too_many_frames", "corrupt", "zero_size", "bad_crop").
    message: one sentence a person understands.
    status: the HTTP status a server should answer with.
    """

    reason: str
    message: str
    status: int

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"ImageRejected({self.reason!r}, {self.message!r}, status={self.status})"


def allowed_phrase(allowed: Iterable[str]) -> str:
    """'a JPEG, PNG, GIF, BMP or WebP photo' for the formats a caller accepts."""
    names = [FORMAT_NAMES[f] for f in FORMAT_NAMES if f in set(allowed)]
    if not names:
        return "a photo"
    if len(names) == 1:
        return f"a {names[0]} photo"
    return f"a {', '.join(names[:-1])} or {names[-1]} photo"


def _megabytes(count: int, unit: int) -> str:
    value = count / unit
    return f"{value:.0f} MB" if value == round(value) else f"{value:.1f} MB"


def empty() -> ImageRejected:
    return ImageRejected("empty", "The file is empty; choose a photo to upload.")


def too_large(size: int, limit: int) -> ImageRejected:
    # Limits come as 4 MiB (Graph) or 5,000,000 bytes (SharePoint): use the unit that is round.
    unit = _MIB if limit % _MIB == 0 or limit % _MB != 0 else _MB
    size_text, limit_text = _megabytes(size, unit), _megabytes(limit, unit)
    if float(size_text.split()[0]) <= limit / unit:
        # Rounding would make "4.0 MB; at most 4 MB" read like a contradiction: give bytes.
        size_text, limit_text = f"{size:,} bytes", f"{limit:,} bytes"
    return ImageRejected(
        "too_large", f"The file is {size_text}; photos can be at most {limit_text}.", 413
    )


def not_accepted(kind: str | None, allowed: Iterable[str]) -> ImageRejected:
    """The bytes are no image we know, or a kind we know but do not take."""
    wanted = allowed_phrase(allowed)
    if kind in FORMAT_NAMES:
        return ImageRejected(
            "unsupported_type",
            f"{FORMAT_NAMES[kind]} images are not accepted here; upload {wanted}.",
            415,
        )
    if kind in ("svg", "heic", "avif", "tiff"):
        return ImageRejected(
            "unsupported_type", f"This file is {_KIND_PHRASES[kind]}; upload {wanted}.", 415
        )
    if kind in _KIND_PHRASES:
        return ImageRejected(
            "not_an_image", f"This file is {_KIND_PHRASES[kind]}; upload {wanted}.", 415
        )
    return ImageRejected("not_an_image", f"This file is not an image; upload {wanted}.", 415)


def too_many_pixels(width: int | None, height: int | None, limit: int) -> ImageRejected:
    allowed = f"{limit / 1_000_000:g} megapixels"
    if width is None or height is None:
        return ImageRejected(
            "too_many_pixels", f"The image is too large; at most {allowed} are allowed."
        )
    return ImageRejected(
        "too_many_pixels", f"The image is {width}×{height} pixels; at most {allowed} are allowed."
    )


def too_many_frames(limit: int) -> ImageRejected:
    # Counting stops at the first frame over the limit, so "more than" is all we know.
    return ImageRejected(
        "too_many_frames",
        f"The animation has more than {limit} frames; at most {limit} are allowed.",
    )


def corrupt() -> ImageRejected:
    return ImageRejected(
        "corrupt", "The image is damaged or incomplete and could not be read; try saving it again."
    )


def zero_size(width: int, height: int) -> ImageRejected:
    return ImageRejected(
        "zero_size", f"The image is {width}×{height} pixels; it has nothing to show."
    )


def bad_crop(left: int, top: int, side: int, width: int, height: int) -> ImageRejected:
    return ImageRejected(
        "bad_crop",
        f"The crop square (left {left}, top {top}, side {side}) does not fit inside the "
        f"{width}×{height} image.",
    )
