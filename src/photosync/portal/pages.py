"""Home, OneDrive and SharePoint: the pages a signed-in user lands on.

OneDrive and SharePoint show the user's own Large picture from sites, which is the request
that prompts sites to check the mailbox for a new photo (the seed's "click the tile" step).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from photosync.directory.services import DirectoryService
from photosync.mailbox.interfaces import PhotoInfo, PhotoNotFound
from photosync.mailbox.services import MailboxService
from photosync.portal.photos import Avatar, avatar, sites_photo_url
from photosync.portal.rendering import render
from photosync.portal.viewer import RequiredViewer, Viewer
from photosync.web import service

router = APIRouter(include_in_schema=False)

# The People web part shows a handful of colleagues, not the whole directory.
PEOPLE_SHOWN = 12


def current_photo(request: Request, viewer: Viewer) -> PhotoInfo | None:
    if not viewer.user.has_mailbox:
        return None
    try:
        return service(request, MailboxService).current_photo(viewer.user.id)
    except PhotoNotFound:
        return None


def header_avatar(viewer: Viewer, info: PhotoInfo | None) -> Avatar:
    return avatar(viewer.user.id, viewer.user.display_name, info, 32, "me")


def page(
    request: Request,
    viewer: Viewer,
    template: str,
    *,
    title: str,
    active: str,
    status: int = 200,
    **context: Any,
) -> Response:
    """A signed-in page: the header shows the viewer's current mailbox photo.

    Pass ``photo`` (even None) when the caller already read it, to save a query.
    """
    info = context.pop("photo") if "photo" in context else current_photo(request, viewer)
    return render(
        request,
        template,
        viewer=viewer,
        status=status,
        title=title,
        active=active,
        header_photo=header_avatar(viewer, info),
        photo=info,
        **context,
    )


@router.get("/")
def home(request: Request, viewer: RequiredViewer) -> Response:
    info = current_photo(request, viewer)
    return page(
        request,
        viewer,
        "home.html",
        title="Home",
        active="home",
        photo=info,
        big=avatar(viewer.user.id, viewer.user.display_name, info, 96, "me"),
        tile=avatar(viewer.user.id, viewer.user.display_name, info, 40, "me"),
    )


@router.get("/onedrive")
def onedrive(request: Request, viewer: RequiredViewer) -> Response:
    return page(
        request,
        viewer,
        "onedrive.html",
        title="OneDrive",
        active="onedrive",
        large_url=sites_photo_url(viewer.user.upn, "L"),
    )


@router.get("/sharepoint")
def sharepoint(request: Request, viewer: RequiredViewer) -> Response:
    colleagues = [
        {"name": u.display_name, "upn": u.upn, "src": sites_photo_url(u.upn, "M")}
        for u in service(request, DirectoryService).list_users()
        if u.id != viewer.user.id
    ][:PEOPLE_SHOWN]
    return page(
        request,
        viewer,
        "sharepoint.html",
        title="SharePoint",
        active="sharepoint",
        large_url=sites_photo_url(viewer.user.upn, "L"),
        colleagues=colleagues,
    )
