"""Our own sites as the engine's ProfileTarget, and our mailbox as an import's PictureStore.

Sites keeps its thumbnails in photosync's database, so the picture change and sync's record of
the check that made it commit in one transaction: sites' ``also`` step runs the ledger's write
(``DatabaseLedger.writer``) inside it. That transaction is this adapter's business; the engine
only hands over plain values (the thumbnails, the check) and gets plain values back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from photosync import imaging
from photosync.directory.interfaces import UserInfo
from photosync.mailbox.services import MailboxService
from photosync.sites.interfaces import SIZE_CODES, SizeCode
from photosync.sites.services import SitesService
from photosync.sync.interfaces import Change, CheckOutcome, Showing, Shown, TargetState
from photosync.sync.records import DatabaseLedger


class SitesProfileTarget:
    def __init__(self, sites: SitesService, ledger: DatabaseLedger) -> None:
        self.sites = sites
        self.ledger = ledger

    def sizes(self) -> Mapping[str, int]:
        return {code: size for code, size in self.sites.thumbnail_sizes().items()}

    def states(self, users: Sequence[UserInfo]) -> dict[str, TargetState]:
        found = self.sites.picture_states([user.id for user in users])
        return {user.id: TargetState(*found[user.id]) for user in users}

    def show(self, pictures: Sequence[Showing], *, change: Change) -> list[Shown | Exception]:
        """All of ``pictures`` and their checks' records in one transaction; if it fails (one
        user's row refused), each again in a transaction of its own, so that only the user
        whose write fails fails."""
        try:
            timestamps = self.sites.show_pictures(
                [
                    (
                        picture.user,
                        self.sites.stage_picture(_thumbnails(picture)),
                        picture.source_etag,
                    )
                    for picture in pictures
                ],
                source="mailbox",
                actor=change.actor,
                reason=change.reason,
                editable=True,  # the engine only shows what an editable profile may show
                also=self.ledger.writer([picture.check for picture in pictures]),
            )
        except Exception as exc:
            if len(pictures) == 1:
                return [exc]
            return [
                result for picture in pictures for result in self.show([picture], change=change)
            ]
        return [Shown(timestamps[picture.user.id], recorded=True) for picture in pictures]

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        self.sites.clear_picture(
            user.id, actor=change.actor, reason=change.reason, also=self.ledger.writer([check])
        )
        return Shown(None, recorded=True)


def _thumbnails(picture: Showing) -> dict[SizeCode, bytes]:
    return {code: picture.files[code] for code in SIZE_CODES}


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
