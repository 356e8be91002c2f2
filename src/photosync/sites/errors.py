"""Why a sites call was refused, as the service says it; routes turn these into SharePoint errors.

The codes are SharePoint's own ``"-2147024891, System.UnauthorizedAccessException"`` style, so that
clients which branch on them (PnP, Office365-REST-Python-Client) see what they expect.
"""

from __future__ import annotations


class SitesError(Exception):
    status = 400
    code = "-1, Microsoft.SharePoint.Client.InvalidClientQueryException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownUser(SitesError):
    status = 404
    code = "-2146232832, Microsoft.SharePoint.SPException"


class UnknownFile(SitesError):
    status = 404
    code = "-2130575338, Microsoft.SharePoint.SPException"


class Forbidden(SitesError):
    status = 403
    code = "-2147024891, System.UnauthorizedAccessException"


class BadRequest(SitesError):
    status = 400


class PictureRejected(SitesError):
    """An upload that is not a BMP, JPEG or PNG, or is too large; ``status`` from imaging."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
