"""Demo users with generated, recognisable photos (``photosync serve --demo``).

Each person covers one case worth showing: an admin, ordinary users with mailbox photos, a user
whose only photo is the directory's thumbnailPhoto (sites must never show it), and a user
without a mailbox (their picture can only be uploaded to sites). Drawn with Pillow alone, so the
demo runs on a plain install.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from PIL import Image, ImageDraw, ImageFont

from photosync import imaging
from photosync.directory.services import DirectoryError

if TYPE_CHECKING:
    from photosync.services import Services

DOMAIN = "example.org"
# One shared, printed password: the demo is for a laptop, and `make serve` listens on loopback.
PASSWORD = "photosync-demo"
ACTOR = "demo"

RGB = tuple[int, int, int]
PhotoKind = Literal["mailbox", "thumbnail", "none"]


@dataclass(frozen=True)
class DemoPerson:
    local: str
    name: str
    note: str
    photo: PhotoKind
    background: RGB
    skin: RGB
    hair: RGB
    shirt: RGB
    admin: bool = False
    mailbox: bool = True
    long_hair: bool = False
    glasses: bool = False

    @property
    def upn(self) -> str:
        return f"{self.local}@{DOMAIN}"

    @property
    def initials(self) -> str:
        return "".join(part[0] for part in self.name.split()[:2]).upper()


PEOPLE = (
    DemoPerson(
        "admin",
        "Ada Admin",
        "admin; mailbox photo",
        "mailbox",
        (46, 94, 170),
        (241, 203, 170),
        (60, 40, 30),
        (30, 30, 40),
        admin=True,
        glasses=True,
    ),
    DemoPerson(
        "adele",
        "Adele Vance",
        "mailbox photo",
        "mailbox",
        (214, 96, 77),
        (224, 172, 135),
        (150, 80, 30),
        (250, 230, 120),
        long_hair=True,
    ),
    DemoPerson(
        "alex",
        "Alex Wilber",
        "mailbox photo",
        "mailbox",
        (74, 160, 110),
        (255, 219, 180),
        (230, 200, 120),
        (60, 80, 160),
    ),
    DemoPerson(
        "megan",
        "Megan Bowen",
        "mailbox photo",
        "mailbox",
        (140, 90, 180),
        (160, 110, 80),
        (20, 20, 20),
        (240, 240, 240),
        long_hair=True,
        glasses=True,
    ),
    DemoPerson(
        "diego",
        "Diego Siciliani",
        "only a directory thumbnailPhoto: sites never shows it",
        "thumbnail",
        (230, 160, 40),
        (200, 150, 110),
        (40, 30, 20),
        (120, 30, 40),
    ),
    DemoPerson(
        "lee",
        "Lee Gu",
        "no mailbox: uploads straight to sites",
        "none",
        (90, 110, 125),
        (230, 190, 150),
        (30, 30, 30),
        (40, 120, 130),
        mailbox=False,
    ),
)


def create_demo(services: Services) -> list[str]:
    """Create the demo users once (a second run only re-prints how to sign in)."""
    directory, mailbox = services.directory, services.mailbox
    for person in PEOPLE:
        if directory.get_user(person.upn) is not None:
            continue
        try:
            user = directory.add_user(
                person.upn,
                person.name,
                password=PASSWORD,
                is_admin=person.admin,
                has_mailbox=person.mailbox,
                actor=ACTOR,
            )
        except DirectoryError:  # another process made it in the meantime
            continue
        if person.photo == "mailbox":
            # Landscape on purpose: the demo also shows the centre-square crop at work.
            mailbox.set_photo(user.id, portrait(person, 960, 720), actor=ACTOR)
        elif person.photo == "thumbnail":
            square = portrait(person, 648, 648)
            directory.set_thumbnail(user.id, imaging.directory_thumbnail(square), actor=ACTOR)
    width = max(len(p.upn) for p in PEOPLE)
    return [
        f"Demo users (password for all: {PASSWORD}):",
        *(f"  {p.upn:<{width}}  {p.name:<16} {p.note}" for p in PEOPLE),
        "Sign in at the portal address below with any of them.",
    ]


def portrait(person: DemoPerson, width: int, height: int, quality: int = 90) -> bytes:
    """A JPEG of a face-like figure with the person's initials, on their own colours."""
    scale = min(width, height) / 720
    cx = width / 2

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        # Coordinates are drawn for a 720 px square centred horizontally, then scaled.
        return (cx + x0 * scale, y0 * scale, cx + x1 * scale, y1 * scale)

    # A soft vertical gradient, so the background is not a flat colour.
    light = tuple(min(255, c + 60) for c in person.background)
    gradient = Image.linear_gradient("L").resize((width, height))
    canvas = Image.composite(
        Image.new("RGB", (width, height), person.background),
        Image.new("RGB", (width, height), light),
        gradient,
    )
    draw = ImageDraw.Draw(canvas)
    if person.long_hair:
        draw.rounded_rectangle(box(-150, 150, 150, 520), radius=120 * scale, fill=person.hair)
    draw.ellipse(box(-260, 520, 260, 900), fill=person.shirt)  # shoulders
    draw.rectangle(box(-45, 400, 45, 540), fill=person.skin)  # neck
    draw.ellipse(box(-125, 150, 125, 450), fill=person.skin)  # head
    draw.chord(box(-132, 130, 132, 330), 180, 360, fill=person.hair)  # hair on top
    for side in (-1, 1):
        ex = 48 * side
        draw.ellipse(box(ex - 16, 280, ex + 16, 306), fill=(255, 255, 255))
        draw.ellipse(box(ex - 8, 284, ex + 8, 302), fill=(40, 30, 30))
        if person.glasses:
            draw.ellipse(
                box(ex - 34, 262, ex + 34, 324), outline=(20, 20, 20), width=int(6 * scale)
            )
    draw.arc(box(-50, 330, 50, 400), 20, 160, fill=(150, 50, 50), width=max(2, int(8 * scale)))
    font = ImageFont.load_default(size=max(12, int(96 * scale)))
    ink = (20, 20, 20) if sum(person.shirt) > 500 else (250, 250, 250)
    draw.text((cx, 640 * scale), person.initials, font=font, fill=ink, anchor="mm")
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=quality)
    return out.getvalue()
