"""The token endpoint, shaped like Entra ID's ``/oauth2/v2.0/token`` (form-encoded in, JSON out)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from photosync.directory.auth import directory_service
from photosync.directory.services import DirectoryService, SignInFailed

router = APIRouter(tags=["directory"])


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/oauth2/v2.0/token")
@router.post("/{tenant}/oauth2/v2.0/token")
async def token(
    request: Request, directory: Annotated[DirectoryService, Depends(directory_service)]
) -> JSONResponse:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(400, "invalid_request", "Send the request form-encoded.")
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    grant = fields.get("grant_type", "")
    if grant == "client_credentials":
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        if not client_id or not secret:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required.")
        access = await run_in_threadpool(directory.app_token, client_id, secret)
        if access is None:
            return _oauth_error(401, "invalid_client", "Unknown client or wrong client secret.")
    elif grant == "password":
        username, password = fields.get("username", ""), fields.get("password", "")
        if not username or not password:
            return _oauth_error(400, "invalid_request", "username and password are required.")
        try:
            access = await run_in_threadpool(directory.password_token, username, password)
        except SignInFailed:
            return _oauth_error(400, "invalid_grant", SignInFailed.message)
    else:
        return _oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials or password.",
        )
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": directory.ctx.settings.token_lifetime_seconds,
            "ext_expires_in": directory.ctx.settings.token_lifetime_seconds,
            "access_token": access,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
