"""Photo validation and renditions: pure functions from upload bytes to square JPEGs.

Everything another package needs is importable from here; the modules below are internals.
"""

from photosync.imaging.errors import ImageRejected
from photosync.imaging.model import GRAPH_SIZES, CropBox, Limits, PhotoSet
from photosync.imaging.pipeline import (
    THUMBNAIL_SIZE,
    directory_thumbnail,
    process_upload,
    render_square_sizes,
    square_master,
)
from photosync.imaging.placeholder import placeholder
from photosync.imaging.sniff import jpeg_size, sniff

__all__ = [
    "GRAPH_SIZES",
    "THUMBNAIL_SIZE",
    "CropBox",
    "ImageRejected",
    "Limits",
    "PhotoSet",
    "directory_thumbnail",
    "jpeg_size",
    "placeholder",
    "process_upload",
    "render_square_sizes",
    "sniff",
    "square_master",
]
