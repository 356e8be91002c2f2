"""``photosync doctor UPN --m365``: the tenant's two copies of a person's photo, and which one is
stale, in plain words.

Since 2023 Microsoft 365 keeps photos in Entra ID and serves them through Graph; SharePoint
Online shows Graph's photo for users without an Exchange licence, while for Exchange-licensed
users (and tools that read ``PictureURL``) its own copy in User Photos still counts. So the doctor
looks at both: Graph's photo (its version), what the SharePoint profile says (PictureURL,
placeholder state, timestamp), and which Graph version photosync last wrote to SharePoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from photosync.directory.interfaces import UserInfo
from photosync.m365.graph import GraphPhotos
from photosync.m365.sharepoint import SharePointProfiles
from photosync.sync.interfaces import outside_user

SHAREPOINT_TARGET = "m365-sharepoint"


@dataclass(frozen=True)
class TenantPhoto:
    """What the tenant shows for one person, and what photosync wrote there last."""

    upn: str
    graph_etag: str | None  # None: Graph has no photo
    graph_size: int | None
    picture_url: str
    placeholder_state: str  # "0" a picture, "1" the placeholder
    exchange_sync_state: str
    timestamp: str
    written_etag: str | None  # the Graph version photosync last wrote to SharePoint
    stale: str | None  # "sharepoint", "graph" or None (both agree)
    verdict: str  # in plain words


def diagnose(
    upn: str,
    graph: GraphPhotos,
    sharepoint: SharePointProfiles,
    written: Callable[[str], str | None],
) -> TenantPhoto:
    """Both copies of ``upn``'s photo; ``written(target)``: the version sync last wrote there."""
    user: UserInfo = outside_user(upn)
    version = graph.current(user)
    props = sharepoint.properties(upn)
    shows = props.get("SPS-PicturePlaceholderState", "1") == "0" and bool(props.get("PictureURL"))
    last = written(SHAREPOINT_TARGET)
    etag = version.etag if version else None
    stale, verdict = _verdict(upn, etag, shows, last)
    return TenantPhoto(
        upn=upn,
        graph_etag=etag,
        graph_size=version.master_size if version else None,
        picture_url=props.get("PictureURL", ""),
        placeholder_state=props.get("SPS-PicturePlaceholderState", ""),
        exchange_sync_state=props.get("SPS-PictureExchangeSyncState", ""),
        timestamp=props.get("SPS-PictureTimestamp", ""),
        written_etag=last,
        stale=stale,
        verdict=verdict,
    )


def _verdict(upn: str, etag: str | None, shows: bool, last: str | None) -> tuple[str | None, str]:
    fix = f"photosync sync now {upn} --from m365 --to m365-sharepoint"
    if etag is None and not shows:
        return "graph", (
            "Neither Graph nor SharePoint has a photo: Graph is the one to fill "
            f"(e.g. photosync sync now {upn} --from folder:PATH --to m365-photo); "
            "SharePoint follows it."
        )
    if etag is None:
        return "sharepoint", (
            "Graph has no photo but SharePoint still shows one: SharePoint is stale. "
            f"Run {fix} to put the placeholder back."
        )
    if not shows:
        return "sharepoint", (
            f"Graph has a photo (version {etag}) but SharePoint shows the placeholder: "
            f"SharePoint is stale. Run {fix}."
        )
    if last == etag:
        return None, (
            f"Both agree: SharePoint shows Graph's current photo (version {etag}), "
            "as photosync wrote it."
        )
    if last is None:
        return "sharepoint", (
            "SharePoint shows a picture photosync did not write, so it may not be Graph's "
            f"current photo (version {etag}). Run {fix} to replace it with Graph's."
        )
    return "sharepoint", (
        f"SharePoint shows Graph's older version {last}; Graph has {etag} now: SharePoint "
        f"is stale. Run {fix}."
    )


def lines(d: TenantPhoto) -> list[str]:
    graph = f"photo version {d.graph_etag}, {d.graph_size} px" if d.graph_etag else "no photo"
    if d.placeholder_state == "0" and d.picture_url:
        sharepoint = f"{d.picture_url} (timestamp {d.timestamp or '-'})"
    else:
        sharepoint = "the placeholder"
    return [
        f"{d.upn} in Microsoft 365: {d.verdict}",
        f"Graph: {graph}",
        f"SharePoint shows: {sharepoint}",
        f"  SPS-PicturePlaceholderState {d.placeholder_state or '-'}, "
        f"SPS-PictureExchangeSyncState {d.exchange_sync_state or '-'}",
        f"photosync last wrote to SharePoint: Graph version {d.written_etag or '-'}",
        "stale: " + {"sharepoint": "SharePoint", "graph": "Graph", None: "nothing"}[d.stale],
    ]


def as_json(d: TenantPhoto) -> dict[str, object]:
    return {
        "upn": d.upn,
        "graph": {"etag": d.graph_etag, "size": d.graph_size},
        "sharepoint": {
            "picture_url": d.picture_url,
            "placeholder_state": d.placeholder_state,
            "exchange_sync_state": d.exchange_sync_state,
            "timestamp": d.timestamp,
            "written_etag": d.written_etag,
        },
        "stale": d.stale,
        "verdict": d.verdict,
    }
