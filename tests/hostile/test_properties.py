"""Property-based tests (hypothesis): the imaging pipeline on any small image or any bytes,
and the parsing of what names people and pictures in URLs: UPNs and claims names, OData
call arguments and ``@v='…'`` aliases with quotes, avatar hashes and sizes."""

from __future__ import annotations

import hashlib
import io
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photosync.avatar.params import DEFAULT_SIZE, MAX_SIZE, parse
from photosync.imaging import GRAPH_SIZES, ImageRejected, process_upload
from photosync.sites import odata
from photosync.sites.interfaces import claims_name, size_code, upn_from_account_name

# Modest: the whole suite must stay fast; hypothesis keeps the failing examples it finds.
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- imaging --------------------------------------------------------------------------------

FORMATS = {
    "JPEG": ("1", "L", "RGB", "CMYK"),
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "GIF": ("L", "P", "RGB"),
    "BMP": ("1", "L", "P", "RGB"),
    "WEBP": ("RGB", "RGBA"),
}


@st.composite
def small_images(draw: st.DrawFn) -> bytes:
    """A small image of any mode and format, from random pixels, maybe damaged."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    seed = draw(st.binary(min_size=1, max_size=64))
    pixels = (seed * (width * height * 4 // len(seed) + 1))[: width * height * 3]
    image = Image.frombytes("RGB", (width, height), pixels).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    data = out.getvalue()
    damage = draw(st.sampled_from(("none", "truncate", "flip", "append")))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    elif damage == "append":
        data += draw(st.binary(max_size=256))
    return data


def check_photo_set(data: bytes) -> None:
    try:
        photo = process_upload(data)
    except ImageRejected as refused:
        assert 400 <= refused.status < 500
        assert refused.message.endswith(".") and "Traceback" not in refused.message
        return
    side = photo.side
    assert photo.renditions, "an accepted photo has at least one size"
    assert set(photo.renditions) <= set(GRAPH_SIZES)
    # Never upscaled, except a square smaller than every size: the smallest size only.
    offered = sorted(photo.renditions)
    assert all(size <= side for size in offered) or offered == [min(GRAPH_SIZES)]
    for size, jpeg in photo.renditions.items():
        with Image.open(io.BytesIO(jpeg)) as image:
            assert image.format == "JPEG"
            assert image.size == (size, size)
            image.load()


@FEW
@given(small_images())
def test_any_small_image_is_refused_or_rendered_at_the_promised_sizes(data: bytes) -> None:
    check_photo_set(data)


@FEW
@given(st.binary(max_size=2048))
def test_any_bytes_are_refused_in_words_or_rendered(data: bytes) -> None:
    check_photo_set(data)


@FEW
@given(st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM"]), st.binary())
def test_any_bytes_after_a_magic_number_are_refused_in_words_or_rendered(
    magic: bytes, rest: bytes
) -> None:
    check_photo_set(magic + rest)


# --- identities -----------------------------------------------------------------------------

# What Entra ID allows in a UPN's local part, and a domain of labels.
LOCAL = st.text(string.ascii_letters + string.digits + "'.-_!#^~", min_size=1, max_size=30)
LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
UPNS = st.builds(
    lambda local, labels: f"{local}@{'.'.join(labels)}",
    LOCAL,
    st.lists(LABEL, min_size=2, max_size=3),
)


@FEW
@given(UPNS)
def test_a_claims_name_names_its_upn(upn: str) -> None:
    assert upn_from_account_name(claims_name(upn)) == upn
    assert upn_from_account_name(upn) == upn
    assert upn_from_account_name(f"  {claims_name(upn)} ") == upn


@FEW
@given(st.text(max_size=60), st.sampled_from(["|bob@example.org", "|membership|bob@example.org"]))
def test_only_a_claims_prefix_is_taken_off_an_account_name(local: str, rest: str) -> None:
    """``evil|bob@x`` does not name bob@x: a ``|`` cuts only after a claims encoding."""
    text = local + rest
    if not text.strip().lower().startswith(("i:0", "c:0")):
        assert upn_from_account_name(text) == text.strip()


def test_claims_encodings_sharepoint_uses() -> None:
    for name in ("i:0#.f|membership|", "I:0#.F|Membership|", "c:0-.f|rolemanager|", "i:0e.t|x|"):
        assert upn_from_account_name(f"{name}bob@example.org") == "bob@example.org"


# --- OData call arguments -------------------------------------------------------------------


def literal(value: str) -> str:
    """An OData string literal: single quotes, a quote inside doubled."""
    return "'" + value.replace("'", "''") + "'"


@FEW
@given(st.text(max_size=60))
def test_an_alias_carries_any_string(value: str) -> None:
    name, args = odata.parse_call("GetPropertiesFor(accountName=@v)", {"@v": literal(value)})
    assert name == "getpropertiesfor"
    assert args == {"accountname": value}


@FEW
@given(st.text(max_size=60))
def test_an_inline_literal_carries_any_string(value: str) -> None:
    """Quotes (doubled), commas, parentheses and equals signs inside a literal are its own."""
    name, args = odata.parse_call(f"add(url={literal(value)},overwrite=true)", {})
    assert (name, args["url"], args["overwrite"]) == ("add", value, "true")


@FEW
@given(st.text(max_size=80), st.dictionaries(st.text(max_size=10), st.text(max_size=20)))
def test_any_call_is_parsed_or_refused_with_a_value_error(
    segment: str, query: dict[str, str]
) -> None:
    try:
        name, args = odata.parse_call(segment, query)
    except ValueError as refused:
        assert str(refused)
        return
    assert name == name.lower() and all(key == key.lower() for key in args)


@FEW
@given(st.text(max_size=10))
def test_a_size_code_is_s_m_l_or_none(value: str) -> None:
    assert size_code(value) in ("S", "M", "L", None)


# --- avatar URLs ----------------------------------------------------------------------------

ALLOWED = ("https://cdn.example.org/avatars/",)


@FEW
@given(UPNS, st.sampled_from(["", ".jpg", ".png", ".JPEG"]), st.sampled_from(["md5", "sha256"]))
def test_the_hash_of_an_address_is_an_avatar_name(upn: str, extension: str, kind: str) -> None:
    digest = hashlib.new(kind, upn.strip().lower().encode()).hexdigest()
    request = parse(digest.upper() + extension, {}, ALLOWED)
    assert request is not None
    assert request.digest == digest and request.size == DEFAULT_SIZE


@FEW
@given(
    st.text(max_size=80),
    st.dictionaries(st.sampled_from(["s", "size", "d", "default", "f", "name", "v"]), st.text()),
)
def test_any_avatar_url_is_a_bounded_request_or_none(name: str, query: dict[str, str]) -> None:
    request = parse(name, query, ALLOWED)
    if request is None:
        return
    assert len(request.digest) in (32, 64) and set(request.digest) <= set("0123456789abcdef")
    assert 1 <= request.size <= MAX_SIZE
    assert request.redirect is None or request.redirect.startswith(ALLOWED)
    assert len(request.name) <= 128


@FEW
@given(st.one_of(st.integers(-(10**6), 10**6).map(str), st.text(max_size=12)))
def test_a_size_out_of_range_is_the_default(size: str) -> None:
    request = parse("0" * 32, {"s": size}, ALLOWED)
    assert request is not None
    wanted = size.strip()
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= MAX_SIZE:
        assert request.size == int(wanted)
    else:
        assert request.size == DEFAULT_SIZE


@FEW
@given(st.text(max_size=60))
def test_a_default_url_off_the_allow_list_never_redirects(url: str) -> None:
    for candidate in (url, "https://cdn.example.org.evil.test/" + url, "//evil.test/" + url):
        request = parse("0" * 32, {"d": candidate}, ALLOWED)
        assert request is not None
        if request.redirect is not None:
            assert request.redirect.startswith("https://cdn.example.org/avatars/")


pytestmark = pytest.mark.xdist_group("hostile-properties")
