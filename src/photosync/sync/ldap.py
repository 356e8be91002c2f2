"""LDAP and Active Directory (placeholder until the connector lands)."""

from __future__ import annotations

from photosync.settings import Settings
from photosync.sync.interfaces import ConnectorError, PhotoSource, PictureStore


class LdapDirectory:
    @classmethod
    def from_settings(cls, settings: Settings) -> LdapDirectory:
        raise ConnectorError("the LDAP connector is not configured")

    def source(self) -> PhotoSource:
        raise NotImplementedError

    def store(self) -> PictureStore:
        raise NotImplementedError
