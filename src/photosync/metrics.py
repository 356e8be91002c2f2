"""Prometheus metrics, with the standard client (prometheus_client).

Two kinds:

- **Counted by the process that did the work**: HTTP requests by route template, method and
  status, their latency, and photo uploads. Under ``photosync serve --workers N`` every process
  writes its counts to files in one directory of that ``serve`` (prometheus_client's
  multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), and whichever process answers ``/metrics``
  adds them up.
- **Read at scrape time from the deployment's shared state**: sync checks by result over the
  last hour (from the check ledger, so checks run by ``photosync worker`` processes count
  too), the task queue's depth, and the progress of unfinished bulk runs.

prometheus_client chooses in-memory or multiprocess values when it is first imported, from the
environment; so nothing imports it at module level here, and ``serve`` sets the directory before
anything counts. Labels are route templates (``/v1.0/users/{user}/photo/$value``), never raw
paths, so the number of series stays bounded whatever clients ask for.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics_core import Metric

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: a hot image read takes well under a millisecond, an upload tens of milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Any other method a client invents is counted as "other" (bounded label values).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # a request no route took (a 404 from the router)


@dataclass(frozen=True)
class Instruments:
    requests: Counter
    latency: Histogram
    uploads: Counter


_MAKING = threading.Lock()


def instruments() -> Instruments:
    """This process's counters, made on first use (see the module's note on the import), once:
    prometheus_client refuses a second registration, and two first uploads at once (threads of
    a server or of a bulk import) would each have made them."""
    with _MAKING:
        return _instruments()


@cache
def _instruments() -> Instruments:
    from prometheus_client import Counter, Histogram

    return Instruments(
        requests=Counter(
            "photosync_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
        ),
        latency=Histogram(
            "photosync_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
        ),
        uploads=Counter(
            "photosync_photo_uploads", "Uploaded photos stored (Graph, the portal, the CLI)."
        ),
    )


def photo_uploaded() -> None:
    instruments().uploads.inc()


class RequestMetrics:
    """What the HTTP edge records per request: one dictionary look-up for the label set seen
    before (prometheus_client's ``labels()`` validates and locks on every call)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str | None, method: str, status: int, seconds: float) -> None:
        key = (route or UNMATCHED, method, status)
        series = self._series.get(key)
        if series is None:
            label = method if method in METHODS else "other"
            made = instruments()
            series = self._series[key] = (
                made.requests.labels(key[0], label, str(status)),
                made.latency.labels(key[0], label),
            )
        series[0].inc()
        series[1].observe(seconds)


# --- the scrape ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkProgress:
    run_id: str
    total: int
    done: int
    failed: int


@dataclass(frozen=True)
class DeploymentState:
    """What ``/metrics`` reads from the shared state at scrape time (plain values)."""

    checks_last_hour: Mapping[str, int]  # by result
    queue_depth: int | None  # None: the broker could not be asked
    running_bulk: Sequence[BulkProgress]


def render(state: DeploymentState) -> bytes:
    """The Prometheus text exposition of this process (or of every process of this ``serve``)
    and of ``state``."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    instruments()  # so that a scrape before any request still lists the families
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    shared = CollectorRegistry()
    shared.register(_StateCollector(state))
    return generate_latest(counted) + generate_latest(shared)


class _StateCollector:
    def __init__(self, state: DeploymentState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        checks = GaugeMetricFamily(
            "photosync_sync_checks_last_hour",
            "Sync checks started in the last hour, by result (every process of the deployment).",
            labels=["result"],
        )
        for result, count in sorted(self.state.checks_last_hour.items()):
            checks.add_metric([result], count)
        yield checks
        if self.state.queue_depth is not None:
            yield GaugeMetricFamily(
                "photosync_task_queue_depth",
                "Sync tasks waiting: in the broker's queue, or queued and running in this "
                "process's pool when there is no broker.",
                value=self.state.queue_depth,
            )
        bulk = GaugeMetricFamily(
            "photosync_bulk_run_users",
            "Users of each unfinished bulk run: total, done, and failed.",
            labels=["run", "state"],
        )
        for run in self.state.running_bulk:
            for name, value in (("total", run.total), ("done", run.done), ("failed", run.failed)):
                bulk.add_metric([run.run_id, name], value)
        yield bulk


# --- who may scrape -----------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """``"127.0.0.0/8, ::1"``: addresses or CIDRs, comma-separated; ValueError names a bad one."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def may_scrape(
    *,
    token: str,
    allowed: Iterable[Network],
    authorization: str | None,
    address: str | None,
) -> bool:
    """The metrics token as a bearer token, or a client address in the allowed networks."""
    if token and authorization:
        scheme, _, sent = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            sent.strip().encode(), token.encode()
        ):
            return True
    if address is None:
        return False
    try:
        client = ipaddress.ip_address(address)
    except ValueError:  # a unix socket, or a test client's made-up name
        return False
    return any(client in network for network in allowed)
