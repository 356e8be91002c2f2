"""The connectors ``--from m365``, ``--to m365-photo`` and ``--to m365-sharepoint`` build, from
settings. One client per process: one msal token cache and one limit on requests in flight,
whichever of them a route uses."""

from __future__ import annotations

import threading

from photosync.m365.client import M365Client, TenantConfig
from photosync.m365.graph import GraphPhotos
from photosync.m365.sharepoint import SharePointProfiles
from photosync.settings import Settings

_clients: dict[TenantConfig, M365Client] = {}
_lock = threading.Lock()


def client_for(settings: Settings) -> M365Client:
    """The process's client for the tenant the settings name (M365Error if they name none)."""
    config = TenantConfig.from_settings(settings)
    with _lock:
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = M365Client(config)
        return client


def graph_photos(settings: Settings) -> GraphPhotos:
    return GraphPhotos(client_for(settings))


def sharepoint_profiles(settings: Settings) -> SharePointProfiles:
    return SharePointProfiles(client_for(settings), settings.large_thumbnail_size)
