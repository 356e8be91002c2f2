"""Log lines of ``photosync serve``: text for a terminal, or one JSON object per line
(``PHOTOSYNC_LOG_FORMAT=json``, with python-json-logger) for a log collector.

One ``logging.config.dictConfig`` dictionary, applied by ``serve`` and handed to uvicorn, which
applies it again in each ``--workers`` process. Every line carries the id of the request it was
written for (``request_id``: the edge's id, also in the answer's ``request-id`` header, in Graph
error bodies and in audit rows), so one request's lines are found across processes.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from photosync.audit import current_request_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")
ACCESS_LOGGER = "uvicorn.access"


class RequestFields(logging.Filter):
    """Adds ``request_id`` to every record (``missing`` outside a request), and the fields of
    uvicorn's access lines (client, method, path, status) as fields of their own."""

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or self.missing
        args = record.args
        # uvicorn's access line: client, method, path, HTTP version, status.
        if record.name == ACCESS_LOGGER and isinstance(args, tuple) and len(args) == 5:
            record.client, record.method, record.path, _version, record.status = args
        return True


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The dictConfig of every process of ``serve``: one handler on stderr, for every logger."""
    formatter: dict[str, Any]
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": list(JSON_FIELDS),
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request": {
                "()": "photosync.logs.RequestFields",
                "missing": None if log_format == "json" else "-",
            }
        },
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        # uvicorn's own loggers write through the root's handler, not handlers of their own.
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True, "level": level.upper()}
                for name in ("uvicorn", "uvicorn.error", ACCESS_LOGGER)
            },
            # Alembic narrates every plugin and step at INFO on each start; a failed
            # migration still shows (as an error, and as the CLI's one sentence).
            "alembic": {"handlers": [], "propagate": True, "level": "WARNING"},
        },
    }
