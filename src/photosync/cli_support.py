"""What CLI commands share: settings from the environment and --data, services built lazily."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import click

from photosync.context import Context
from photosync.services import Services, build_services
from photosync.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


class Env:
    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir

    @cached_property
    def settings(self) -> Settings:
        if self.data_dir is None:
            return Settings()
        return Settings(data_dir=self.data_dir)

    @cached_property
    def _services(self) -> Services:
        ctx = Context.from_settings(self.settings)
        ctx.db.upgrade()
        return build_services(ctx)

    def services(self) -> Services:
        return self._services


pass_env = click.make_pass_decorator(Env)


def fail(message: str) -> click.ClickException:
    """An error for the person at the terminal: one line, no traceback, exit status 1."""
    return click.ClickException(message)
