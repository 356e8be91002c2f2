"""The sync role's face: what triggers a check, what an admin can ask, what the portal shows.

Default wiring: our mailbox as the source, our sites as the target. Sites tells us about own-Large
requests through its hook (so sites never imports sync); the policy decides, the engine checks.
An admin's ``--from/--to`` names another route (``sync.connectors``): the same engine with that
route's source and target, and the same ledger, its records saying which route they were.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect

from photosync import audit
from photosync.chunks import chunked
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.mailbox.services import MailboxService
from photosync.sites.interfaces import ProfileStatus
from photosync.sites.services import SitesService
from photosync.sync.bulk import NO_SUCH_USER, BulkRuns, Item, Pace, Progress, batch_size
from photosync.sync.connectors import ConnectorEnv, build_source, build_store, target_kind
from photosync.sync.diagnostic import Audience, Diagnosis, Facts, diagnose, self_check_wait
from photosync.sync.engine import SyncEngine, UserLocks
from photosync.sync.interfaces import (
    ADMIN,
    BULK,
    DEFAULT_ROUTE,
    ERROR,
    OWN_LARGE,
    CheckOutcome,
    ConnectorError,
    PeopleSource,
    PhotoSource,
    ProfileTarget,
    Route,
    Trigger,
    outside_user,
)
from photosync.sync.marks import MarkedTarget
from photosync.sync.policy import Decision, History, Timing, decide
from photosync.sync.records import DatabaseLedger, latest_check_sql
from photosync.sync.rendering import Renderers
from photosync.sync.sources import MailboxPhotoSource
from photosync.sync.targets import SitesProfileTarget
from photosync.ttlcache import NotInMemory

# A bulk run renders in processes of its own from this many users to check: starting them
# costs about a second, which a smaller run would not win back.
PROCESSES_FROM = 500
# ... and only when its target keeps a size this large: a 96 px thumbnail (LDAP's) renders in
# about a millisecond and a half, less than handing the master to another process costs (an
# LDAP export of 1,000 people took half as long again with render processes as without).
PROCESSES_FROM_PX = 200


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
        self.ledger = DatabaseLedger(ctx.db)
        self.engine = SyncEngine(
            source or MailboxPhotoSource(mailbox),
            target or SitesProfileTarget(sites, self.ledger),
            self.ledger,
            clock=ctx.clock,
            locks=UserLocks(ctx.db),
        )
        self.runs = BulkRuns(ctx.db)
        self.connectors = ConnectorEnv(ctx, directory, mailbox, sites)
        # Each route's engine, built on first use and kept (a connector may hold connections).
        self._routes: dict[Route, SyncEngine] = {DEFAULT_ROUTE: self.engine}
        self._routes_lock = threading.Lock()
        sites.set_own_large_hook(self.on_own_large_request)

    def engine_for(self, route: Route) -> SyncEngine:
        """The engine between ``route``'s source and target (ConnectorError if one of them
        cannot be built, e.g. a setting it needs is empty)."""
        with self._routes_lock:
            engine = self._routes.get(route)
            if engine is None:
                ledger = DatabaseLedger(self.ctx.db, route)
                store = build_store(self.connectors, route)
                target: ProfileTarget = (
                    SitesProfileTarget(self.sites, ledger)
                    if store is None
                    else MarkedTarget(store, route, ledger, self.ctx.clock)
                )
                engine = SyncEngine(
                    build_source(self.connectors, route),
                    target,
                    ledger,
                    clock=self.ctx.clock,
                    locks=self.engine.locks,
                )
                self._routes[route] = engine
            return engine

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

    def check_now(
        self, user: str, *, actor: str, trigger: Trigger = ADMIN, route: Route = DEFAULT_ROUTE
    ) -> CheckOutcome:
        """A check of one user (id or UPN) now, whatever the policy says (an admin's, or the
        work of the automatic policy, a bulk run or the schedule: ``trigger`` says which)."""
        info = self._user(user)
        outcome = self.engine_for(route).run(info, trigger=trigger, actor=actor)
        assert outcome is not None  # no ``decide``: always runs
        return outcome

    def request_check(self, user: str, *, actor: str) -> CheckOutcome:
        """A person's "check now" (an admin's, from the CLI or the admin pages, or someone's
        own from their diagnostic page): the check, and an audit row of who asked."""
        outcome = self.check_now(user, actor=actor)
        with self.ctx.db.write_connection() as conn:
            audit.record(
                conn,
                actor=actor,
                action="sync.check_requested",
                subject_user_id=outcome.user_id,
                result=outcome.result,
                error=outcome.error,
            )
        return outcome

    def open_bulk(
        self, upns: Sequence[str] | None, *, actor: str, route: Route = DEFAULT_ROUTE
    ) -> tuple[str, bool]:
        """The run for these users on ``route``, new or unfinished: (run id, resumed?).

        ConnectorError when the route's source cannot say who its people are."""
        people = ((name, user.id if user else None) for name, user in self.people(upns, route))
        run_id, resumed = self.runs.open(
            upns, people, actor=actor, now=self.ctx.clock(), route=route
        )
        with self.ctx.db.write_connection() as conn:
            audit.record(
                conn,
                actor=actor,
                action="sync.bulk.resumed" if resumed else "sync.bulk.started",
                run=run_id,
                scope="all" if upns is None else f"{len(upns)} users",
                **({} if route.is_default else {"source": route.source, "target": route.target}),
            )
        return run_id, resumed

    def people(
        self, upns: Sequence[str] | None, route: Route = DEFAULT_ROUTE
    ) -> Iterator[tuple[str, UserInfo | None]]:
        """Who a run covers, by the name the run lists them under, each with our user (None:
        not one of ours).

        ``--all``: a source that knows its people (a folder, a directory) lists them, matched
        to our users by UPN, then by mail; any other source syncs our directory's users."""
        if upns is not None:
            by_mail: dict[str, UserInfo] | None = None  # read only if a name is no UPN of ours
            for upn in upns:
                found = self.directory.get_user(upn)
                if found is None and not target_kind(route).our_users_only:
                    by_mail = self._ours_by_mail() if by_mail is None else by_mail
                    found = by_mail.get(upn.strip().lower())
                yield upn, found
            return
        source = self.engine_for(route).source
        if not isinstance(source, PeopleSource):
            yield from ((user.upn, user) for user in self.directory.iter_users())
            return
        ours = self._ours_by_mail()
        try:
            for person in source.people():
                yield (
                    person.upn,
                    (ours.get(person.upn.lower()) or ours.get((person.mail or "").lower())),
                )
        except ConnectorError:
            raise
        except Exception as exc:  # a library's own error: one sentence, never a traceback
            raise ConnectorError(f"{route.source} could not list its people: {exc}") from exc

    def _ours_by_mail(self) -> dict[str, UserInfo]:
        """Our users by lower-cased UPN and mail (one pass over the directory, per run); a UPN
        wins over someone else's mail of the same text."""
        ours: dict[str, UserInfo] = {}
        upns: set[str] = set()
        for user in self.directory.iter_users():
            ours[user.upn.lower()] = user
            upns.add(user.upn.lower())
            if user.mail and user.mail.lower() not in upns:
                ours.setdefault(user.mail.lower(), user)
        return ours

    def continue_bulk(
        self,
        run_id: str,
        *,
        actor: str,
        concurrency: int = 4,
        rate: float | None = None,
        on_progress: Callable[[int, int, int], None] | None = None,
        processes: bool = False,
    ) -> Progress:
        """Check the users of a run not done yet, a batch of users at a time (``BATCH``: one
        transaction and one statement per table for all of them), ``concurrency`` batches at
        once, here.

        ``processes``: the thumbnails are rendered by that many processes of their own, the
        checks' reads and writes staying in this one. Rendering is most of a check's CPU, and in
        threads it would share Python's GIL with the checks' other work; one process keeps the
        writes (SQLite allows one writer at a time). The CLI's bulk runs use this.
        """
        start = self.runs.progress(run_id)
        assert start is not None
        done, failed = start.done, start.failed
        pace = Pace(rate)
        batch = batch_size(rate)
        route = self.runs.route(run_id)
        engine, renderers = self.engine_for(route), None
        if (
            processes
            and concurrency > 1
            and start.total - start.done >= PROCESSES_FROM
            and max(engine.target.sizes().values()) >= PROCESSES_FROM_PX
        ):
            renderers = Renderers(concurrency)
            engine = engine.with_render(renderers.render)
            # Enough batches at once to keep every renderer busy while others read and write.
            concurrency *= 2

        def completed(futures: Iterable[Future[tuple[int, int]]]) -> None:
            nonlocal done, failed
            for future in futures:
                checked, failures = future.result()  # a failure outside a check stops the run
                for n in range(checked):
                    done += 1
                    failed += int(n < failures)
                    if on_progress is not None:
                        on_progress(done, failed, start.total)

        # At most a few batches in flight at a time, however long the run: memory stays flat.
        in_flight: set[Future[tuple[int, int]]] = set()
        try:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="bulk") as pool:
                for items in chunked(self.runs.pending(run_id), batch):
                    if len(in_flight) >= 2 * concurrency:
                        finished_now, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        completed(finished_now)
                    for item in items:
                        if item.user_id is not None:
                            pace.wait()
                    in_flight.add(
                        pool.submit(
                            self.check_in_run,
                            run_id,
                            items,
                            actor=actor,
                            engine=engine,
                            route=route,
                        )
                    )
                completed(in_flight)
        finally:
            if renderers is not None:
                renderers.close()
        self.runs.finish(run_id, self.ctx.clock())
        finished = self.runs.progress(run_id)
        assert finished is not None
        return finished

    def check_in_run(
        self,
        run_id: str,
        items: Sequence[Item],
        *,
        actor: str,
        engine: SyncEngine | None = None,
        route: Route | None = None,
    ) -> tuple[int, int]:
        """Check users of a bulk run together (here, or in a worker's task): (how many were
        checked, how many of them failed).

        A person who is not one of our users is checked as themselves on a route whose target
        is outside our database, and is "no such user" on one whose target is ours."""
        route = route or self.runs.route(run_id)
        ours_only = target_kind(route).our_users_only
        known = self.directory.users_by_id([item.user_id for item in items if item.user_id])
        users: list[tuple[UserInfo, int]] = []
        failed = 0
        for item in items:
            user = known.get(item.user_id) if item.user_id else None
            if user is None and not ours_only:
                user = outside_user(item.upn)
            if user is None:
                self.runs.mark(run_id, item.position, result=ERROR, error=NO_SUCH_USER)
                failed += 1
            else:
                users.append((user, item.position))
        if not users:
            return len(items), failed
        try:
            engine = engine or self.engine_for(route)
        except Exception as exc:  # the route's connector cannot be built: these users fail
            for _, position in users:
                self.runs.mark(run_id, position, result=ERROR, error=str(exc))
            return len(items), len(items)
        outcomes = engine.run_batch(users, trigger=BULK, actor=actor, run_id=run_id)
        return len(items), failed + sum(outcome.result == ERROR for outcome in outcomes)

    def plan(self, upns: Sequence[str] | None, route: Route = DEFAULT_ROUTE) -> list[Item]:
        """What a bulk check would do, user by user, without writing anything (a dry run)."""
        engine = self.engine_for(route)
        ours_only = target_kind(route).our_users_only
        planned = []
        for position, (upn, found) in enumerate(self.people(upns, route)):
            user = found or (None if ours_only else outside_user(upn))
            if user is None:
                planned.append(Item(position, upn, None, False, ERROR, "dry-run", NO_SUCH_USER))
                continue
            try:
                result, _ = engine.plan(user)
            except Exception as exc:  # as a check would record it: per user, in the report
                planned.append(
                    Item(position, upn, user.id, False, ERROR, "dry-run", _describe(exc))
                )
                continue
            planned.append(Item(position, upn, user.id, False, result, "dry-run", None))
        return planned

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
        return self.ledger.recent(user_id, limit)

    def results_since(self, moment: datetime) -> dict[str, int]:
        """Checks of everyone since ``moment``, by result (``/metrics``)."""
        return self.ledger.results_since(moment)

    def histories(self, user_ids: Sequence[str]) -> dict[str, History]:
        """Each user's latest check, in one query (the admin page's); never-checked users are
        left out."""
        return self.ledger.histories(user_ids)

    def latest_check_sql(
        self, user_id: ColumnElement[str]
    ) -> tuple[ScalarSelect[datetime | None], ScalarSelect[str | None]]:
        """(when, result) of the latest check as SQL on a listing's user id column."""
        return latest_check_sql(user_id)

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
        # The record of the last seconds is good enough to decide whom to check (the source
        # reads the mailbox itself), and saves a query on every check.
        try:
            info = self.directory.get_user(user, memory_only=True)
        except NotInMemory:
            info = self.directory.get_user(user)
        if info is None:
            raise NoSuchUser(f"no user {user}")
        return info


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


__all__ = ["CheckOutcome", "NoSuchUser", "SyncService", "SyncStatus"]
