"""Write docs/cli.md from the CLI's own --help output (run by `make docs`; a test checks it).

The docs must not drift from the code, so nothing in docs/cli.md is typed by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from photosync.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            found += _commands(cmd, [*prefix, name])
        elif cmd is not None:
            found.append([*prefix, name])
    return found


def render() -> str:
    runner = CliRunner()
    parts = [
        "# photosync command line\n",
        "Generated from `photosync … --help` by `tools/gen_cli_docs.py`; do not edit by hand.\n",
    ]
    for path in _commands(main, []):
        result = runner.invoke(main, [*path, "--help"], prog_name="photosync", terminal_width=100)
        title = " ".join(["photosync", *path])
        parts.append(f"## `{title}`\n\n```text\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if DOC.exists() and DOC.read_text() == text else 1)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC}")
