"""Our own sites as the engine's ProfileTarget (SharePoint Online would sit beside it)."""

from __future__ import annotations

from collections.abc import Mapping

from photosync.directory.interfaces import UserInfo
from photosync.sites.interfaces import InTransaction, SizeCode
from photosync.sites.library import Staged
from photosync.sites.services import SitesService
from photosync.sync.interfaces import StagedPicture, TargetState


class SitesProfileTarget:
    def __init__(self, sites: SitesService) -> None:
        self.sites = sites

    def thumbnail_sizes(self) -> Mapping[SizeCode, int]:
        return self.sites.thumbnail_sizes()

    def state(self, user: UserInfo) -> TargetState:
        source, etag, editable = self.sites.picture_state(user.id)
        return TargetState(source, etag, editable)

    def stage(self, user: UserInfo, files: Mapping[SizeCode, bytes]) -> StagedPicture:
        staged = self.sites.stage_picture(files)
        return StagedPicture(refs=staged.keys, lengths=staged.lengths, handle=staged)

    def commit(
        self,
        user: UserInfo,
        staged: StagedPicture,
        *,
        source_etag: str,
        actor: str,
        reason: str,
        also: InTransaction | None = None,
    ) -> str:
        if not isinstance(staged.handle, Staged):
            # The bytes travel in the handle to the rows that keep them: nothing else has them.
            raise TypeError("sites can only show thumbnails it staged itself")
        return self.sites.show_picture(
            user,
            staged.handle,
            source="mailbox",
            source_etag=source_etag,
            actor=actor,
            reason=reason,
            editable=True,  # the engine only commits what an editable profile may show
            also=also,
        )

    def clear(
        self,
        user: UserInfo,
        *,
        actor: str,
        reason: str,
        also: InTransaction | None = None,
    ) -> None:
        self.sites.clear_picture(user.id, actor=actor, reason=reason, also=also)
