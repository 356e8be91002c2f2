"""The benchmark photos: deterministic, photo-like JPEGs of the sizes people upload.

The generator itself is photosync.imaging.testimages (tests use it too); this module names the
benchmark set so every bench (imaging now, HTTP later) measures the same bytes.

    .venv/bin/python bench/photos.py [DIR]    # write them out, to look at or to upload by hand
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from photosync.imaging.testimages import photo_jpeg

__all__ = ["PHOTOS", "photo"]

# name -> (width, height, JPEG quality); 12 MP at q90 comes out near 2.6 MB like a phone photo.
PHOTOS: dict[str, tuple[int, int, int]] = {
    "12 MP": (4000, 3000, 90),
    "1 MP": (1155, 866, 90),
    "648 px": (648, 648, 90),
}


@cache
def photo(name: str) -> bytes:
    """The JPEG bytes of a benchmark photo (made once per process, same bytes every run)."""
    width, height, quality = PHOTOS[name]
    return photo_jpeg(width, height, seed=2024, quality=quality)


def main(argv: list[str]) -> None:
    folder = Path(argv[1] if len(argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        path = folder / f"bench-{name.replace(' ', '').lower()}.jpg"
        path.write_bytes(photo(name))
        print(f"{path}  {len(photo(name)):,} bytes")


if __name__ == "__main__":
    main(sys.argv)
