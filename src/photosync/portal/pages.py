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
from photosync.portal.photos import Avatar, avatar, sites_avatar, sites_photo_url
from photosync.portal.rendering import render
from photosync.portal.viewer import RequiredViewer, Viewer
from photosync.sites.interfaces import ProfileStatus
from photosync.sites.services import SitesService
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


def sites_status(request: Request, viewer: Viewer) -> ProfileStatus | None:
    """What SharePoint shows for a viewer without a mailbox (their picture is kept there);
    None for everyone else, whose picture is their mailbox photo."""
    if viewer.user.has_mailbox:
        return None
    return service(request, SitesService).profile_status(viewer.user.id)


def own_avatar(
    viewer: Viewer, info: PhotoInfo | None, status: ProfileStatus | None, size: int
) -> Avatar:
    """The viewer's own picture at ``size``: their mailbox photo, or for someone without a
    mailbox the picture SharePoint shows (``status``), as Office.com shows it."""
    user = viewer.user
    if status is not None:
        return sites_avatar(user.id, user.upn, user.display_name, status, size)
    return avatar(user.id, user.display_name, info, size, "me")


def header_avatar(request: Request, viewer: Viewer, info: PhotoInfo | None) -> Avatar:
    return own_avatar(viewer, info, sites_status(request, viewer), 32)


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

    Pass ``photo`` and ``sites`` (``sites_status``; even None) when the caller already read
    them, to save a query.
    """
    info = context.pop("photo") if "photo" in context else current_photo(request, viewer)
    sites = context.pop("sites") if "sites" in context else sites_status(request, viewer)
    return render(
        request,
        template,
        viewer=viewer,
        status=status,
        title=title,
        active=active,
        header_photo=own_avatar(viewer, info, sites, 32),
        photo=info,
        **context,
    )


@router.get("/")
def home(request: Request, viewer: RequiredViewer) -> Response:
    info = current_photo(request, viewer)
    sites = sites_status(request, viewer)
    return page(
        request,
        viewer,
        "home.html",
        title="Home",
        active="home",
        photo=info,
        sites=sites,
        big=own_avatar(viewer, info, sites, 96),
        tile=own_avatar(viewer, info, sites, 40),
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
