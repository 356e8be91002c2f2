"""Sites fixtures: a few people (one admin, one without a mailbox).

Made without passwords (argon2 costs 0.15 s each); ``helpers.sign_in`` issues their tokens.
"""

from __future__ import annotations

import pytest

from photosync.directory.interfaces import UserInfo
from photosync.services import Services


@pytest.fixture
def alice(services: Services) -> UserInfo:
    return services.directory.add_user("alice@example.org", "Alice Smith")


@pytest.fixture
def bob(services: Services) -> UserInfo:
    return services.directory.add_user("bob.jones@example.org", "Bob Jones")


@pytest.fixture
def admin(services: Services) -> UserInfo:
    return services.directory.add_user("admin@example.org", "Ada Admin", is_admin=True)


@pytest.fixture
def carol(services: Services) -> UserInfo:
    """A user without a mailbox: she uploads her picture straight into sites."""
    return services.directory.add_user("carol@example.org", "Carol NoMail", has_mailbox=False)
