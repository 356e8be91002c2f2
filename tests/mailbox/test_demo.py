"""``serve --demo``: distinct, recognisable demo photos, created once."""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient

from photosync.demo import PASSWORD, PEOPLE, create_demo
from photosync.services import Services
from tests.conftest import bearer, password_token
from tests.mailbox.conftest import open_image, psnr, row_counts


def test_demo_users_photos_and_sign_in_help(services: Services, client: TestClient) -> None:
    lines = create_demo(services)
    text = "\n".join(lines)
    assert PASSWORD in text
    for person in PEOPLE:
        assert person.upn in text

    users = {u.upn: u for u in services.directory.list_users()}
    assert set(users) == {p.upn for p in PEOPLE}
    assert users["admin@example.org"].is_admin
    assert [u.upn for u in users.values() if not u.has_mailbox] == ["lee@example.org"]

    with_photo = [p.upn for p in PEOPLE if p.photo == "mailbox"]
    assert len(with_photo) >= 3
    smalls = {}
    for upn in with_photo:
        info, data = services.mailbox.photo_bytes(upn, 96)
        assert info.master_size == 648
        smalls[upn] = open_image(data)
        # Saved photos reach the directory thumbnail, as Exchange does.
        assert services.directory.get_thumbnail(upn) is not None
    for a, b in itertools.combinations(with_photo, 2):
        assert psnr(smalls[a], smalls[b]) < 20, (a, b)  # each person looks different

    # Diego's only photo is the directory thumbnail: the mailbox (and so sites) has none.
    diego = next(p.upn for p in PEOPLE if p.photo == "thumbnail")
    assert services.directory.get_thumbnail(diego) is not None
    assert services.mailbox.current_photo(diego) is None

    # The printed password signs in, and the photo is there over Graph.
    auth = bearer(password_token(client, "adele@example.org", PASSWORD))
    assert client.get("/v1.0/me/photo", headers=auth).json()["id"] == "648x648"

    # A second run (a restart with --demo) changes nothing and prints the same help.
    counts = row_counts(services.ctx)
    assert create_demo(services) == lines
    assert row_counts(services.ctx) == counts
