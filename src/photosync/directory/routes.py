"""The token endpoint, shaped like Entra ID's ``/oauth2/v2.0/token`` (form-encoded in, JSON out).

A sub-application of its own: every error it gives is an OAuth2 error body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from photosync.directory.services import DirectoryService, SignInFailed
from photosync.web import ApiError, dependency, oauth_error, sub_app

router = APIRouter(tags=["directory"])
Directory = Annotated[DirectoryService, Depends(dependency(DirectoryService))]


@router.post("/oauth2/v2.0/token")
@router.post("/{tenant}/oauth2/v2.0/token")
async def token(request: Request, directory: Directory) -> JSONResponse:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ApiError(400, "invalid_request", "Send the request form-encoded.")
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    grant = fields.get("grant_type", "")
    if grant == "client_credentials":
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        if not client_id or not secret:
            raise ApiError(400, "invalid_request", "client_id and client_secret are required.")
        access = await run_in_threadpool(directory.app_token, client_id, secret)
        if access is None:
            raise ApiError(401, "invalid_client", "Unknown client or wrong client secret.")
    elif grant == "password":
        username, password = fields.get("username", ""), fields.get("password", "")
        if not username or not password:
            raise ApiError(400, "invalid_request", "username and password are required.")
        try:
            access = await run_in_threadpool(directory.password_token, username, password)
        except SignInFailed:
            raise ApiError(400, "invalid_grant", SignInFailed.message) from None
    else:
        raise ApiError(
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


def create_app() -> FastAPI:
    app = sub_app("Token endpoint (Entra ID)", oauth_error)
    app.include_router(router)
    return app
