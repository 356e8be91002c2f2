"""The token endpoint, shaped like Entra ID's ``/oauth2/v2.0/token`` (form-encoded in, JSON out).

A sub-application of its own: every error it gives is an OAuth2 error body.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from photosync.directory.assertions import JWT_BEARER, BadAssertion
from photosync.directory.passwords import HashingBusy, hashing_full
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
    try:
        if hashing_full() and not fields.get("client_assertion"):
            raise HashingBusy  # refused before a thread or a database read is spent on it
        access = await _grant(request, directory, fields)
    except HashingBusy:
        # Answered after a pause: a client that ignores Retry-After is otherwise refused as
        # fast as it can ask, and thousands of refusals a second took the event loop from
        # photo reads (bench_signin_flood: p99 x50 with no hashing at all). A waiting
        # request costs a coroutine, no thread; a client that honours Retry-After loses little.
        await asyncio.sleep(HashingBusy.pause)
        raise ApiError(
            429,
            "temporarily_unavailable",
            HashingBusy.message,
            {"Retry-After": str(HashingBusy.retry_after)},
        ) from None
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": directory.ctx.settings.token_lifetime_seconds,
            "ext_expires_in": directory.ctx.settings.token_lifetime_seconds,
            "access_token": access,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def _grant(request: Request, directory: DirectoryService, fields: dict[str, str]) -> str:
    """The access token a grant earns (ApiError: why not)."""
    grant = fields.get("grant_type", "")
    if grant == "client_credentials":
        resource = _resource(request, directory, fields.get("scope", ""))
        access = await _app_token(request, directory, fields, resource)
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
    return access


async def _app_token(
    request: Request, directory: DirectoryService, fields: dict[str, str], resource: str | None
) -> str:
    """client_credentials: the app proves itself with its secret or with a client assertion
    signed with its registered certificate's key (what SharePoint Online requires)."""
    assertion = fields.get("client_assertion", "")
    if assertion:
        if fields.get("client_assertion_type") != JWT_BEARER:
            raise ApiError(400, "invalid_request", f"client_assertion_type must be {JWT_BEARER}.")
        try:
            return await run_in_threadpool(
                directory.app_token_by_assertion,
                assertion,
                client_id=fields.get("client_id") or None,
                endpoint=_endpoint_url(request, directory),
                resource=resource,
            )
        except BadAssertion as exc:
            raise ApiError(401, "invalid_client", str(exc)) from None
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    if not client_id or not secret:
        raise ApiError(
            400,
            "invalid_request",
            "client_id and client_secret (or client_assertion) are required.",
        )
    access = await run_in_threadpool(directory.app_token, client_id, secret, resource=resource)
    if access is None:
        raise ApiError(401, "invalid_client", "Unknown client or wrong client secret.")
    return access


def _resource(request: Request, directory: DirectoryService, scope: str) -> str | None:
    """The resource of ``scope=<resource>/.default`` (None: no scope, our own audience)."""
    scopes = scope.split()
    if not scopes:
        return None
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise ApiError(400, "invalid_scope", "An app asks for one scope, <resource>/.default.")
    resource = scopes[0].removesuffix("/.default")
    if not directory.tokens.accepts(resource) and resource.rstrip("/") != _origin(
        request, directory
    ):
        raise ApiError(
            400,
            "invalid_resource",
            f"The resource principal named {resource} was not found in the tenant.",
        )
    return resource


def _origin(request: Request, directory: DirectoryService) -> str:
    return directory.ctx.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")


def _endpoint_url(request: Request, directory: DirectoryService) -> str:
    """This request's token endpoint URL: the audience client assertions must name."""
    return _origin(request, directory) + request.url.path


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
async def openid_configuration(tenant: str, request: Request, directory: Directory) -> JSONResponse:
    """OpenID discovery, as msal reads it before its first token request."""
    base = f"{_origin(request, directory)}/{tenant}"
    return JSONResponse(
        {
            "issuer": directory.tokens.issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "grant_types_supported": ["client_credentials", "password"],
            "response_types_supported": ["token"],
            "scopes_supported": ["openid", ".default"],
            "tenant_region_scope": None,
        }
    )


def create_app() -> FastAPI:
    app = sub_app("Token endpoint (Entra ID)", oauth_error)
    app.include_router(router)
    return app
