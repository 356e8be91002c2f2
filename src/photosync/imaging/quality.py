"""Whether a photo is large enough for the sizes it will be shown at: the one rule behind the
"this photo is small" warning of the change-photo page, the Graph API and the CLI.

A photo is never enlarged past what was uploaded to fill a size it does not have (sizes above
the upload are not offered), except the smallest size when the upload is smaller still, and
SharePoint's Large when a picture goes straight into sites; both are what the original does,
and both are said out loud with this warning.
"""

from __future__ import annotations

# Below this a photo looks soft even on a profile card (Graph's 96 × 96 is the card size).
SHARP_SIDE = 96


def small_photo_warning(side: int, largest: int = 0) -> str | None:
    """A sentence for a photo of ``side`` pixels square that is smaller than 96 px or than
    ``largest``, the largest size it is asked to fill; None when it is large enough.

    The mailbox passes its master's size: the largest offered size is at most the upload's
    side, and under 96 exactly when the upload is (an upload under 48 still gets a 48)."""
    need = max(SHARP_SIDE, largest)
    if side >= need:
        return None
    return (
        f"This photo is smaller than {need} × {need} pixels, so it looks blurred where it is "
        f"shown larger. Upload one at least {need} pixels square (648 or more looks sharpest)."
    )
