"""The log configuration of ``photosync serve``: JSON lines carrying the request id."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from photosync import audit
from photosync.audit import Origin
from photosync.logs import logging_config


@pytest.fixture
def json_stream() -> Iterator[io.StringIO]:
    config = logging_config("json", "info")
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logging.config.dictConfig(config)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_json_lines_carry_the_request_id_and_the_access_fields(json_stream: io.StringIO) -> None:
    logging.getLogger("photosync.test").info("outside a request")
    with audit.from_origin(Origin("192.0.2.1", "curl", "req-42")):
        logging.getLogger("photosync.test").warning("inside %s", "a request")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "192.0.2.1:5000", "GET", "/healthz", "1.1", 200
        )
    outside, inside, access = [json.loads(line) for line in json_stream.getvalue().splitlines()]
    assert outside["request_id"] is None and outside["message"] == "outside a request"
    assert (inside["level"], inside["logger"], inside["message"]) == (
        "WARNING",
        "photosync.test",
        "inside a request",
    )
    assert inside["request_id"] == "req-42" and "time" in inside
    assert access["request_id"] == "req-42"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", 200)
    assert access["client"] == "192.0.2.1:5000"


def test_text_lines_show_a_dash_outside_a_request() -> None:
    config = logging_config("text", "warning")
    assert config["formatters"]["default"]["format"].endswith("[%(request_id)s] %(message)s")
    assert config["filters"]["request"]["missing"] == "-"
    assert config["root"]["level"] == "WARNING"
