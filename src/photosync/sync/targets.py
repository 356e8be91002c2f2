"""Our own sites as the engine's ProfileTarget, and our mailbox as an import's PictureStore.

Sites keeps its thumbnails in photosync's database, so the picture change and sync's record of
the check that made it commit in one transaction: sites' ``also`` step runs the ledger's write
(``DatabaseLedger.writer``) inside it. That transaction is this adapter's business; the engine
only hands over plain values (the thumbnails, the check) and gets plain values back.
"""

from __future__ import annotations

from collections.abc import Mapping

from photosync import imaging
from photosync.directory.interfaces import UserInfo
from photosync.mailbox.services import MailboxService
from photosync.sites.interfaces import SIZE_CODES, SizeCode
from photosync.sites.services import SitesService
from photosync.sync.interfaces import Change, CheckOutcome, Shown, TargetState
from photosync.sync.records import DatabaseLedger


class SitesProfileTarget:
    def __init__(self, sites: SitesService, ledger: DatabaseLedger) -> None:
        self.sites = sites
        self.ledger = ledger

    def sizes(self) -> Mapping[str, int]:
        return {code: size for code, size in self.sites.thumbnail_sizes().items()}

    def state(self, user: UserInfo) -> TargetState:
        source, etag, editable = self.sites.picture_state(user.id)
        return TargetState(source, etag, editable)

    def show(
        self,
        user: UserInfo,
        files: Mapping[str, bytes],
        *,
        source_etag: str,
        change: Change,
        check: CheckOutcome,
    ) -> Shown:
        thumbnails: dict[SizeCode, bytes] = {code: files[code] for code in SIZE_CODES}
        timestamp = self.sites.show_picture(
            user,
            self.sites.stage_picture(thumbnails),
            source="mailbox",
            source_etag=source_etag,
            actor=change.actor,
            reason=change.reason,
            editable=True,  # the engine only shows what an editable profile may show
            also=self.ledger.writer(check),
        )
        return Shown(timestamp, recorded=True)

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        self.sites.clear_picture(
            user.id, actor=change.actor, reason=change.reason, also=self.ledger.writer(check)
        )
        return Shown(None, recorded=True)


class MailboxPictureStore:
    """Our mailbox as an import's target (``--to mailbox``): a new photo version, through the
    mailbox's one upload path, so a bad image is refused with the mailbox's own reasons.

    The master is the one size it takes (the mailbox makes its own renditions from it). An
    import never deletes a photo: when the source's photo is gone, the mailbox keeps its own.
    """

    MASTER = "master"

    def __init__(self, mailbox: MailboxService) -> None:
        self.mailbox = mailbox

    def sizes(self) -> Mapping[str, int]:
        return {self.MASTER: max(imaging.GRAPH_SIZES)}

    def put(self, user: UserInfo, files: Mapping[str, bytes], *, change: Change) -> None:
        self.mailbox.store_photo(
            self.mailbox.mailbox_user(user.id), files[self.MASTER], actor=change.actor
        )

    def remove(self, user: UserInfo, *, change: Change) -> None:
        return None
