"""Friendly HTML error pages for people (the portal sub-application's errors), no stack traces."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from photosync.portal.pages import current_photo, header_avatar
from photosync.portal.rendering import render
from photosync.portal.viewer import NeedsSignIn, optional_viewer, signin_url
from photosync.web import ApiError

TITLES = {
    400: "Something in that request was wrong",
    401: "Please sign in",
    403: "You can't open this page",
    404: "We can't find that page",
    405: "That didn't work",
    409: "That didn't work",
    413: "That file is too big",
    500: "Something went wrong on our side",
}
DEFAULT_MESSAGES = {
    403: "Your account does not have access to this page.",
    404: "The page may have moved, or the address may be mistyped.",
    405: "This address does not accept that kind of request.",
    500: "We couldn't finish that. It was not your fault; please try again in a moment.",
}


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    # The header shows who is signed in when it is cheap and safe to know; a broken database
    # (the usual cause of a 500) must not turn the error page itself into another 500.
    viewer, header = None, None
    if status < 500:
        try:
            viewer = optional_viewer(request)
            header = (
                header_avatar(request, viewer, current_photo(request, viewer)) if viewer else None
            )
        except Exception:
            viewer, header = None, None
    title = TITLES.get(status, "That didn't work" if status < 500 else TITLES[500])
    return render(
        request,
        "error.html",
        viewer=viewer,
        status=status,
        title=title,
        header_photo=header,
        status_code=status,
        message=message or DEFAULT_MESSAGES.get(status, DEFAULT_MESSAGES[500]),
    )


def page_error(request: Request, exc: ApiError) -> Response:
    """How the portal answers an ApiError: sign in first, or a page that says what happened."""
    if exc.status == 401 and request.method == "GET":
        return RedirectResponse(signin_url(request.url.path), status_code=303)
    # ApiError messages are written for the person or program calling; 5xx texts may not be.
    message = exc.message if exc.status < 500 else None
    return error_page(request, exc.status, message)


def install_error_pages(app: FastAPI) -> None:
    async def needs_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NeedsSignIn)
        return RedirectResponse(signin_url(exc.next_path), status_code=303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        response = error_page(request, exc.status_code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_page(request, 400, "Some of the form's fields were missing or not valid.")

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this answer, so the server log still gets the traceback.
        return error_page(request, 500)

    app.add_exception_handler(NeedsSignIn, needs_sign_in)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, server_error)
