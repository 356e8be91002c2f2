"""A real client: Microsoft's own msgraph-sdk, pointed at our running server.

The SDK is built for graph.microsoft.com with Azure Identity credentials. Two knobs make it talk
to us, without weakening the server: the request adapter's ``base_url`` (``<server>/v1.0``), and
an ``AccessTokenProvider`` of our own behind kiota's ``BaseBearerTokenAuthenticationProvider``
that fetches the token from our token endpoint. The https-only rule lives in the Azure Identity
provider we do not use; ours instead only hands the token to the one host it was issued by
(its ``AllowedHostsValidator``), which is the point of that rule.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.profile_photo import ProfilePhoto
from msgraph.graph_request_adapter import options as GRAPH_OPTIONS
from msgraph_core import GraphClientFactory

from tests.conftest import PASSWORD, LiveServer, run_async
from tests.mailbox.conftest import jpeg, open_image

pytestmark = pytest.mark.slow


class PhotosyncTokens(AccessTokenProvider):
    """Gets (once) and hands out a token from photosync's Entra-ID-shaped token endpoint."""

    def __init__(self, server: str, form: dict[str, str]) -> None:
        self.server = server
        self.form = form
        self.hosts = AllowedHostsValidator([urlparse(server).hostname or ""])
        self._token: str | None = None

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        if not self.hosts.is_url_host_valid(uri):
            return ""  # never send our token anywhere else
        if self._token is None:
            async with httpx.AsyncClient(base_url=self.server) as http:
                r = await http.post("/oauth2/v2.0/token", data=self.form)
                r.raise_for_status()
                self._token = str(r.json()["access_token"])
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.hosts


def graph_client(server: str, form: dict[str, str]) -> tuple[GraphServiceClient, httpx.AsyncClient]:
    """The SDK's own client and middleware, with our base URL and token provider.

    The httpx client is made here (with the SDK's default middleware and options, as
    GraphRequestAdapter would make it) so that the test can close it: an open keep-alive
    connection would keep the server's graceful shutdown waiting.
    """
    http = GraphClientFactory.create_with_default_middleware(options=GRAPH_OPTIONS)
    auth = BaseBearerTokenAuthenticationProvider(PhotosyncTokens(server, form))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{server}/v1.0"
    return GraphServiceClient(request_adapter=adapter), http


def test_msgraph_sdk_every_photo_call(live_server: LiveServer) -> None:
    r = live_server.cli(
        "users",
        "add",
        "megan@example.org",
        "--name",
        "Megan",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    r = live_server.cli("apps", "add", "directory-sync", "--role", "ProfilePhoto.ReadWrite.All")
    client_id = re.search(r"^client_id: (\S+)$", r.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", r.stdout, re.M)
    assert client_id and secret
    form_app = {
        "grant_type": "client_credentials",
        "client_id": client_id.group(1),
        "client_secret": secret.group(1),
        "scope": "https://graph.microsoft.com/.default",
    }
    form_megan = {"grant_type": "password", "username": "megan@example.org", "password": PASSWORD}

    async def scenario() -> None:
        app, app_http = graph_client(live_server.url, form_app)
        megan, megan_http = graph_client(live_server.url, form_megan)
        async with app_http, megan_http:
            await steps(app, megan)

    async def steps(app: GraphServiceClient, megan: GraphServiceClient) -> None:
        user = app.users.by_user_id("megan@example.org")
        with pytest.raises(ODataError) as missing:
            await user.photo.get()
        assert missing.value.response_status_code == 404
        assert missing.value.error is not None and missing.value.error.code == "ImageNotFound"

        # Upload: the SDK sends application/octet-stream.
        await user.photo.content.put(jpeg(760, 700, seed=6))

        meta = await user.photo.get()
        assert meta is not None
        assert (meta.id, meta.width, meta.height) == ("648x648", 648, 648)

        for size in (96, 240):
            data = await user.photos.by_profile_photo_id(f"{size}x{size}").content.get()
            assert data is not None
            image = open_image(data)
            assert (image.format, image.size) == ("JPEG", (size, size))

        listed = await user.photos.get()
        assert listed is not None and listed.value is not None
        assert [p.width for p in listed.value] == [48, 64, 96, 120, 240, 360, 432, 504, 648]

        # The signed-in user sees the same photo through /me.
        mine = await megan.me.photo.get()
        assert mine is not None and mine.id == "648x648"

        await user.photo.content.delete()
        with pytest.raises(ODataError) as gone:
            await user.photos.by_profile_photo_id("96x96").content.get()
        assert gone.value.response_status_code == 404

        await me_steps(megan.me)

        # photo.delete() sends DELETE /users/{id}/photo (no $value): it removes the photo too.
        await user.photo.content.put(jpeg(300, 300, seed=8))
        assert (await user.photo.get()) is not None
        await user.photo.delete()
        with pytest.raises(ODataError) as deleted:
            await user.photo.get()
        assert deleted.value.response_status_code == 404

    async def me_steps(me: Any) -> None:
        """Every photo call of the SDK's ``me`` variant, as the signed-in user."""
        await me.photo.content.put(jpeg(500, 400, seed=7))
        meta = await me.photo.get()
        assert meta is not None
        # A 500 x 400 upload is cropped to 400 x 400: 360 is the largest size offered.
        assert (meta.id, meta.width, meta.height) == ("360x360", 360, 360)
        largest = await me.photo.content.get()
        assert largest is not None and open_image(largest).size == (360, 360)

        listed = await me.photos.get()
        assert listed is not None and listed.value is not None
        assert [p.id for p in listed.value][-1] == "360x360"
        one = await me.photos.by_profile_photo_id("120x120").get()
        assert one is not None and (one.width, one.height) == (120, 120)
        small = await me.photos.by_profile_photo_id("120x120").content.get()
        assert small is not None and open_image(small).size == (120, 120)

        # The SDK also offers writes Graph does not do (a PATCH of the metadata, a PUT or
        # DELETE of one size): each is refused with Graph's error body, and changes nothing.
        refused = [
            me.photo.patch(ProfilePhoto(id="48x48")),
            me.photos.by_profile_photo_id("120x120").content.put(jpeg(120, 120, seed=9)),
            me.photos.by_profile_photo_id("120x120").content.delete(),
        ]
        for call in refused:
            with pytest.raises(ODataError) as not_allowed:
                await call
            assert not_allowed.value.response_status_code == 405
            assert not_allowed.value.error is not None
            assert not_allowed.value.error.code == "MethodNotAllowed"
        assert await me.photos.by_profile_photo_id("120x120").content.get() == small

        await me.photo.delete()
        with pytest.raises(ODataError) as gone:
            await me.photo.content.get()
        assert gone.value.response_status_code == 404
        assert gone.value.error is not None and gone.value.error.code == "ImageNotFound"

    run_async(scenario())
