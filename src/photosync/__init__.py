"""photosync: an organisation's profile pictures, self-hosted.

Roles (one package each): directory, mailbox, sites, portal, sync. See docs/ and ARCHITECTURE.md.
"""

__version__ = "0.1.0"
