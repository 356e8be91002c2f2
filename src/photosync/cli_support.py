"""What role commands share, importing no role: the command environment and one-line errors.

The top-level CLI (``photosync.cli``) is the only command-line caller of the composition root:
it puts an environment in click's context object that reads the settings and builds every role's
services on first use. A role's commands take that environment through ``pass_env`` and name the
services they use in a Protocol of their own, so no role imports ``photosync.services`` and no
import cycle runs through the CLI.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Sequence
from functools import update_wrapper
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from photosync.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")
S_co = TypeVar("S_co", covariant=True)


class CommandEnv(Protocol[S_co]):
    """What a command gets from the top-level CLI: the settings, and the services built lazily.

    ``S_co`` is what the command uses of the services: a role says so with a small Protocol
    (``CommandEnv[Needs]`` in ``mailbox/cli.py``), which the composition root's ``Services``
    satisfies (``photosync.cli`` has mypy check that).
    """

    @property
    def settings(self) -> Settings: ...

    def services(self) -> S_co: ...


class BadSettings(click.ClickException):
    """A PHOTOSYNC_* value that cannot be used: one line, no traceback, exit status 2."""

    exit_code = 2


def pass_env(command: Callable[Concatenate[Any, P], R]) -> Callable[P, R]:
    """Call ``command`` with the CLI's environment as its first argument.

    The settings are read before the command runs, so that a bad PHOTOSYNC_* value stops every
    command the same way, before it does anything.
    """

    def with_env(*args: P.args, **kwargs: P.kwargs) -> R:
        env = click.get_current_context().obj  # sub-commands inherit the group's
        if env is None:  # a role command invoked on its own, not under photosync's main
            raise RuntimeError(f"{command.__name__} runs only under the photosync command")
        env.settings  # noqa: B018  (reading them is the check)
        return command(env, *args, **kwargs)

    return update_wrapper(with_env, command)


def fail(message: str) -> click.ClickException:
    """An error for the person at the terminal: one line, no traceback, exit status 1."""
    return click.ClickException(message)


DEBUG_VARIABLE = "PHOTOSYNC_DEBUG"


class Commands(click.Group):
    """photosync's top-level group: THE place where an error that no command turned into a
    sentence becomes one, on standard error, with exit status 1 (click's usage errors keep 2).
    ``PHOTOSYNC_DEBUG=1`` lets the traceback through instead, for a bug report."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0"):
                raise
            raise fail(explain(exc)) from None


def explain(exc: Exception) -> str:
    """One sentence for an error nothing else explained."""
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return (
            f"cannot use the database ({reason}); check PHOTOSYNC_DATABASE_URL and that the "
            f"database server is running (set {DEBUG_VARIABLE}=1 for the traceback)"
        )
    return (
        f"unexpected error: {type(exc).__name__}: {exc} "
        f"(set {DEBUG_VARIABLE}=1 for the traceback, and report it)"
    )


def bind_port(host: str, port: int) -> socket.socket:
    """The listening socket for ``serve``, bound before anything is announced, so that a
    busy port is one sentence (and exit status 1), not a start-up message and then a crash."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise fail(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: a restart may reuse a port whose old connections are in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise fail(
                f"port {port} on {host} is already in use: stop what listens there, "
                "or choose another port with --port"
            ) from None
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns (the last one unpadded): ids stay whole to copy, and lines grep.

    A table drawn to the terminal's width would cut long ids, which people copy from here.
    """
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in (header, *rows)
    )
