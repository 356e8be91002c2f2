"""Change your photo in the page: crop by keyboard and mouse, preview, save; cancel; a bad file;
and a camera photo whose EXIF orientation the browser and the server must read the same way."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PEOPLE,
    jpeg_bytes,
    mailbox_photo,
    open_jpeg,
    psnr,
    put_photo,
    screenshot,
    shown_image,
    sign_in,
    tinted_photo,
)
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

RED = (200, 40, 40)
BLUE = (30, 80, 220)


def halves(first: Image.Image, second: Image.Image, *, across: bool = True) -> Image.Image:
    """``first`` then ``second``, side by side (or one above the other)."""
    w, h = first.size
    both = Image.new("RGB", (w * 2, h) if across else (w, h * 2))
    both.paste(first, (0, 0))
    both.paste(second, (w, 0) if across else (0, h))
    return both


def crop_fields(page: Page) -> tuple[int, int, int]:
    values = [page.input_value(f"#crop-{name}") for name in ("left", "top", "side")]
    return int(values[0]), int(values[1]), int(values[2])


def choose_file(page: Page, name: str, data: bytes, mime: str = "image/jpeg") -> None:
    page.set_input_files("#photo-file", files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_crop_preview_and_save_through_the_page(
    server: LiveServer, page: Page, artifacts: Path
) -> None:
    person = PEOPLE["upload"]
    source = halves(tinted_photo(5, RED, 600), tinted_photo(6, BLUE, 600))  # 1200 × 600
    sign_in(page, person.upn)
    page.get_by_role("link", name="Change your photo").first.click()
    page.wait_for_url("**/photo")

    choose_file(page, "holiday.jpg", jpeg_bytes(source))
    expect(page.locator("#cropper")).to_be_visible()
    assert crop_fields(page) == (300, 0, 600)  # the middle square by default

    # Keyboard: move the picture left three big steps (to the right edge), zoom in twice.
    canvas = page.locator("#crop-canvas")
    canvas.focus()
    for _ in range(3):
        page.keyboard.press("Shift+ArrowLeft")
    assert crop_fields(page) == (600, 0, 600)
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert crop_fields(page) == (652, 52, 496)
    # Mouse: drag the picture 100 px left; the square stops at the picture's edge.
    box = canvas.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 50, y, steps=5)
    page.mouse.move(x - 100, y, steps=5)
    page.mouse.up()
    left, top, side = crop_fields(page)
    assert (left, top, side) == (704, 52, 496)
    expected = source.crop((left, top, left + side, top + side))
    screenshot(page, artifacts, "photo-crop")

    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/photo#preview")
    # Each preview at its true size under its true caption: the 432 master is shown 432 px
    # wide (it was once stretched to 648 under "432 × 432").
    shown = page.locator(".preview-figure").evaluate_all(
        """figures => figures.map(f => {
            const img = f.querySelector("img");
            return [img.naturalWidth, img.getBoundingClientRect().width,
                    f.querySelector("figcaption").textContent];
        })"""
    )
    assert shown == [[s, s, f"{s} × {s}"] for s in (48, 96, 432)]
    assert psnr(shown_image(page, ".preview-master img"), expected) > 26
    assert mailbox_photo(server, person.upn) is None  # a preview is not the photo yet
    screenshot(page, artifacts, "photo-preview")

    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/photo?done=saved")
    expect(page.get_by_role("status")).to_contain_text("Your new photo is saved")
    saved = mailbox_photo(server, person.upn)
    assert saved is not None and psnr(open_jpeg(saved), expected) > 26
    # The header and home show it at once: versioned URLs, nothing stale from the cache.
    assert psnr(shown_image(page, ".header-avatar"), expected) > 22
    page.get_by_role("link", name="Home").click()
    assert psnr(shown_image(page, ".hero-avatar"), expected) > 24
    assert psnr(shown_image(page, ".tile-photo"), expected) > 22


def test_cancel_and_a_bad_file_leave_the_photo_alone(
    server: LiveServer, page: Page, artifacts: Path
) -> None:
    person = PEOPLE["cancel"]
    old = tinted_photo(7, RED, 700)
    put_photo(server, person.upn, jpeg_bytes(old))
    sign_in(page, person.upn)
    page.goto("/photo")

    choose_file(page, "new.jpg", jpeg_bytes(tinted_photo(8, BLUE, 700)))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/photo#preview")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url("**/photo?done=cancelled")
    expect(page.get_by_role("status")).to_contain_text("did not change")
    expect(page.locator("#preview")).to_have_count(0)
    assert psnr(shown_image(page, ".current-photo"), old) > 24
    after_cancel = mailbox_photo(server, person.upn)
    assert after_cancel is not None and psnr(open_jpeg(after_cancel), old) > 26

    # Not an image: the page cannot crop it, and the server says what is wrong.
    choose_file(page, "notes.jpg", b"Shopping list: milk, eggs, bread.\n" * 20, "image/jpeg")
    expect(page.locator("#file-note")).to_contain_text("can't be shown here")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("alert")).to_contain_text("This file is not an image")
    screenshot(page, artifacts, "photo-bad-file")
    assert mailbox_photo(server, person.upn) == after_cancel
    expect(page.locator("#preview")).to_have_count(0)


def test_a_photo_dragged_onto_the_page_is_the_one_uploaded(server: LiveServer, page: Page) -> None:
    person = PEOPLE["drop"]
    photo = tinted_photo(15, BLUE, 500)
    sign_in(page, person.upn)
    page.goto("/photo")
    # What a drop from the desktop delivers: a DataTransfer holding one file.
    dropped = page.evaluate_handle(
        """b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const files = new DataTransfer();
            files.items.add(new File([bytes], "dragged.jpg", { type: "image/jpeg" }));
            return files;
        }""",
        base64.b64encode(jpeg_bytes(photo)).decode(),
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": dropped})
    expect(page.locator("#dropzone")).to_have_class(re.compile("dragging"))
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    expect(page.locator("#cropper")).to_be_visible()
    assert page.eval_on_selector("#photo-file", "i => i.files[0].name") == "dragged.jpg"
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/photo#preview")
    assert psnr(shown_image(page, ".preview-master img"), photo) > 26


def test_without_javascript_the_plain_form_keeps_the_middle_square(
    browser: Browser, server: LiveServer
) -> None:
    person = PEOPLE["nojs"]
    source = halves(tinted_photo(13, RED, 400), tinted_photo(14, BLUE, 400))  # 800 × 400
    middle = source.crop((200, 0, 600, 400))
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, person.upn)
        page.goto("/photo")
        expect(page.locator("#cropper")).to_be_hidden()
        choose_file(page, "plain.jpg", jpeg_bytes(source))
        page.get_by_role("button", name="Upload and preview").click()
        page.wait_for_url("**/photo#preview")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/photo?done=saved")
    finally:
        context.close()
    saved = mailbox_photo(server, person.upn)
    assert saved is not None
    assert psnr(open_jpeg(saved), middle) > 26


def test_remove_asks_first_then_removes(server: LiveServer, page: Page) -> None:
    person = PEOPLE["remove"]
    put_photo(server, person.upn, jpeg_bytes(tinted_photo(12, RED, 700)))
    sign_in(page, person.upn)
    page.goto("/photo")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remove photo").click()
    expect(page.get_by_role("button", name="Remove photo")).to_be_visible()
    assert mailbox_photo(server, person.upn) is not None  # said no: nothing happened

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove photo").click()
    page.wait_for_url("**/photo?done=removed")
    expect(page.get_by_role("status")).to_have_text("Your photo was removed.")
    expect(page.get_by_role("img", name="Your current photo")).to_have_text("RR")  # initials
    assert mailbox_photo(server, person.upn) is None


def test_a_rotated_camera_photo_crops_what_the_person_saw(server: LiveServer, page: Page) -> None:
    person = PEOPLE["exif"]
    # Stored portrait, red on top of blue; EXIF 6 says "turn 90° clockwise to view", so the
    # picture people see is landscape: blue on the left, red on the right.
    stored = halves(tinted_photo(9, RED, 600), tinted_photo(10, BLUE, 600), across=False)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = jpeg_bytes(stored, exif=exif.tobytes())
    seen = ImageOps.exif_transpose(open_jpeg_with_exif(data))
    assert seen.size == (1200, 600)

    sign_in(page, person.upn)
    page.goto("/photo")
    choose_file(page, "camera.jpg", data)
    expect(page.locator("#cropper")).to_be_visible()
    assert crop_fields(page) == (300, 0, 600)  # landscape: the browser applied the rotation
    page.locator("#crop-canvas").focus()
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    assert crop_fields(page) == (0, 0, 600)
    # What the crop area shows is the left (blue) half of what the person sees.
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/photo#preview")
    shown = shown_image(page, ".preview-master img")
    assert psnr(shown, seen.crop((0, 0, 600, 600))) > 26
    assert psnr(shown, seen.crop((600, 0, 1200, 600))) < 20


def open_jpeg_with_exif(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
