"""The sync role's face: what triggers a check, what an admin can ask, what the portal shows.

Default wiring: our mailbox as the source, our sites as the target. Sites tells us about own-Large
requests through its hook (so sites never imports sync); the policy decides, the engine checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.mailbox.services import MailboxService
from photosync.sites.interfaces import ProfileStatus
from photosync.sites.services import SitesService
from photosync.sync import records
from photosync.sync.diagnostic import Audience, Diagnosis, Facts, diagnose, self_check_wait
from photosync.sync.engine import SyncEngine
from photosync.sync.interfaces import ADMIN, OWN_LARGE, PhotoSource, ProfileTarget, Trigger
from photosync.sync.policy import Decision, History, Timing, decide
from photosync.sync.records import CheckOutcome
from photosync.sync.sources import MailboxPhotoSource
from photosync.sync.targets import SitesProfileTarget


class NoSuchUser(LookupError):
    """No directory user has this id or user principal name."""


@dataclass(frozen=True)
class SyncStatus:
    """Everything the admin diagnostic and ``photosync sync status`` show for one user."""

    user: UserInfo
    profile: ProfileStatus
    policy: str
    history: History
    # What the user's next own-Large request would get, in a session that already had its check.
    next_request: Decision
    recent: list[CheckOutcome]


class SyncService:
    def __init__(
        self,
        ctx: Context,
        *,
        directory: DirectoryService,
        mailbox: MailboxService,
        sites: SitesService,
        source: PhotoSource | None = None,
        target: ProfileTarget | None = None,
    ) -> None:
        self.ctx = ctx
        self.directory = directory
        self.mailbox = mailbox
        self.sites = sites
        self.engine = SyncEngine(
            ctx,
            source or MailboxPhotoSource(mailbox),
            target or SitesProfileTarget(sites),
        )
        sites.set_own_large_hook(self.on_own_large_request)

    # --- triggers --------------------------------------------------------------------------

    def on_own_large_request(
        self, user: UserInfo, session_id: str | None, actor: str
    ) -> CheckOutcome | None:
        """A signed-in user asked for their own Large picture: check if the policy says so.

        Most requests end at the first decision (no lock, two primary-key reads); a request
        that should check decides again under the user's lock, so concurrent ones check once.
        """
        if not self.explain(user.id, session_id).check:
            return None
        return self.engine.run(
            user,
            trigger=OWN_LARGE,
            actor=actor,
            session_id=session_id,
            decide=lambda history: self._decide(history, session_id),
        )

    def check_now(self, user: str, *, actor: str, trigger: Trigger = ADMIN) -> CheckOutcome:
        """A check of one user (id or UPN) now, whatever the policy says (an admin's, or the
        work of the automatic policy, a bulk run or the schedule: ``trigger`` says which)."""
        info = self._user(user)
        outcome = self.engine.run(info, trigger=trigger, actor=actor)
        assert outcome is not None  # no ``decide``: always runs
        return outcome

    # --- reading ---------------------------------------------------------------------------

    def explain(self, user_id: str, session_id: str | None = None) -> Decision:
        """Whether an own-Large request by this user in this session would check, and why."""
        return self._decide(self.engine.history(user_id, session_id), session_id)

    def status(self, user: str) -> SyncStatus:
        info = self._user(user)
        history = self.engine.history(info.id, None)
        settled = replace(history, session_checked=True)
        return SyncStatus(
            user=info,
            profile=self.sites.profile_status(info.id),
            policy=self.ctx.settings.sync_policy,
            history=history,
            next_request=self._decide(settled, None),
            recent=self.recent_checks(info.id),
        )

    def diagnose(
        self,
        user: str,
        *,
        session_id: str | None = None,
        audience: Audience = "admin",
        checks: int = 5,
    ) -> Diagnosis:
        """Why the user's photo does or does not show in sites, and the one fix (reads only).

        ``session_id``: the sign-in session of the person asking about themselves (their own
        page), whose next own-Large request may still get its check; without one, as
        ``status`` does, for a session that already had it.
        """
        info = self._user(user)
        history = self.engine.history(info.id, session_id)
        if session_id is None:
            history = replace(history, session_checked=True)
        photo = self.mailbox.current_photo(info.id) if info.has_mailbox else None
        facts = Facts(
            upn=info.upn,
            name=info.display_name,
            has_mailbox=info.has_mailbox,
            mailbox_photo=photo,
            sites=self.sites.profile_status(info.id),
            directory_thumbnail=bool(self.directory.thumbnail_lengths([info.id])),
            history=history,
            has_session=session_id is not None,
            recent=self.recent_checks(info.id, checks),
            policy=self.ctx.settings.sync_policy,
            timing=Timing.from_settings(self.ctx.settings),
            now=self.ctx.clock(),
        )
        return diagnose(facts, audience)

    def self_check_at(self, user_id: str) -> datetime | None:
        """When the user may next ask for a check of their own photo (None: now).

        From the user's latest check in sync's records, so every server agrees."""
        last = self.engine.history(user_id, None).last_check_at
        return self_check_wait(last, self.ctx.clock())

    def recent_checks(self, user_id: str, limit: int = 20) -> list[CheckOutcome]:
        return records.recent_checks(self.ctx.db, user_id, limit)

    def histories(self, user_ids: Sequence[str]) -> dict[str, History]:
        """Each user's latest check, in one query (the admin page's); never-checked users are
        left out."""
        return records.load_histories(self.ctx.db, user_ids)

    # --- the tenant setting (kept by sites; here for the CLI and the portal's admin page) --

    def picture_editable(self) -> bool:
        return self.sites.picture_editable()

    def set_picture_editable(self, enabled: bool, *, actor: str) -> None:
        self.sites.set_picture_editable(enabled, actor=actor)

    def _decide(self, history: History, session_id: str | None) -> Decision:
        return decide(
            history,
            now=self.ctx.clock(),
            has_session=session_id is not None,
            timing=Timing.from_settings(self.ctx.settings),
            policy=self.ctx.settings.sync_policy,
        )

    def _user(self, user: str) -> UserInfo:
        info = self.directory.get_user(user)
        if info is None:
            raise NoSuchUser(f"no user {user}")
        return info


__all__ = ["CheckOutcome", "NoSuchUser", "SyncService", "SyncStatus"]
