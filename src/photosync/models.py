"""Every role's tables, imported so that one metadata (and one Alembic history) covers them."""

from photosync import audit
from photosync.db import Base
from photosync.directory import models as directory_models
from photosync.mailbox import models as mailbox_models
from photosync.sites import models as sites_models
from photosync.sync import models as sync_models

metadata = Base.metadata

__all__ = ["audit", "directory_models", "mailbox_models", "metadata", "sites_models", "sync_models"]
