"""Fuzzing from our own /openapi.json (schemathesis), signed in as an admin: no operation answers
5xx, every answer has a documented status, content type and body shape, and a request the
document calls valid is accepted (enums for sizes, patterns for operation calls)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from photosync.app import app_for
from photosync.context import Context
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.imaging.testimages import photo_jpeg
from photosync.services import build_services
from tests.conftest import bearer, make_settings

# The operations a schema cannot describe, for which "a request the schema allows is accepted"
# is left out (the other checks still hold them to their documented statuses and shapes):
NOT_DESCRIBABLE = {
    # The body is a photo: no schema says "bytes that decode to an image"; anything else is
    # refused with 400 ErrorInvalidImage, as Graph refuses it.
    "PUT /v1.0/me/photo/$value",
    "PATCH /v1.0/me/photo/$value",
    "PUT /v1.0/users/{user}/photo/$value",
    "PATCH /v1.0/users/{user}/photo/$value",
    # Files/add: a photo's bytes again. The POST of PeopleManager also carries the writes:
    # SetMyProfilePicture (a photo) and SetSingleValueProfileProperty (whose valid values
    # depend on the property named). Its GET (the reads) is checked.
    "POST /_api/web/{call}",
    "POST /_api/SP.UserProfiles.PeopleManager/{operation}",
    # OAuth2 (RFC 6749 section 5.2) answers a wrong password, scope or grant with 400: what
    # makes a token request valid is a secret no schema knows.
    "POST /oauth2/v2.0/token",
    "POST /{tenant}/oauth2/v2.0/token",
}
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile-fuzz")]

# A modest number per operation: about 40 operations, a few seconds in all.
EXAMPLES = 12


def test_no_operation_fails_or_answers_off_its_documentation(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "photosync.db")
    ctx = Context.from_settings(
        make_settings(tmp_path / "data", f"sqlite:///{tmp_path / 'photosync.db'}")
    )
    services = build_services(ctx)
    admin = services.directory.add_user("admin@example.org", "Admin", is_admin=True)
    services.directory.add_user("bob@example.org", "Bob")
    services.mailbox.set_photo(admin.id, photo_jpeg(300, 300), actor="test")
    session = services.directory.start_session(admin.id, "token").id
    auth = bearer(
        services.directory.tokens.issue_user_token(
            admin.id, admin.upn, session, DELEGATED_SCOPES, ctx.clock()
        )
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app_for(services))
    failures: dict[str, str] = {}
    labels: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.add(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: schemathesis.Case) -> None:
            left_out = [positive_data_acceptance] if case.operation.label in NOT_DESCRIBABLE else []
            case.call_and_validate(headers=auth, excluded_checks=left_out)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as failure:  # every operation's, then one report
            failures[operation.label] = str(failure)[:1500]
    ctx.db.dispose()
    assert len(labels) >= 30  # every route is in the document
    assert labels >= NOT_DESCRIBABLE  # each left out by its name in the document
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
