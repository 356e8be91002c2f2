"""The README's and the docs' shell examples, run as written against a live ``serve --demo``.

Every ``console`` block of README.md and docs/*.md is read (a ``$ `` line starts a command, a
trailing backslash continues it) and run by bash, in order, in a folder that looks like the
checkout after ``make serve`` (``.venv/bin/photosync``), with the server's address put where the
text says ``http://127.0.0.1:8000``. A renamed command, a user who is not in the demo or an API
answer that changed makes this test fail, so the examples stay true.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, start_server, stop_server

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    path
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if "```console" in path.read_text()
]
MAKE_SERVE_URL = "http://127.0.0.1:8000"
BLOCK = re.compile(r"^```console\n(.*?)^```", re.DOTALL | re.MULTILINE)


def shell_examples(text: str) -> list[str]:
    """The commands of every console block of ``text``, each as one (possibly multi-line) str."""
    commands: list[str] = []
    for block in BLOCK.findall(text):
        current: list[str] | None = None
        for line in block.splitlines():
            if current is None:
                if not line.startswith("$ "):
                    continue  # output shown in the text
                current = [line[2:]]
            else:
                current.append(line)
            if not line.rstrip().endswith("\\"):
                commands.append("\n".join(current))
                current = None
    return commands


def test_examples_are_found_in_the_text() -> None:
    text = "```console\n$ one \\\n    two\nsome output\n$ three\n```\n```sh\n$ not this\n```\n"
    assert shell_examples(text) == ["one \\\n    two", "three"]
    readme = shell_examples((ROOT / "README.md").read_text())
    assert any(command.startswith("TOKEN=$(curl") for command in readme)
    assert any("photosync users import" in command for command in readme)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("readme") / "data"
    data.mkdir()
    live = start_server(data, "--demo")
    try:
        yield live
    finally:
        stop_server(live)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_the_shell_examples_run_as_written(
    document: Path, demo: LiveServer, tmp_path: Path
) -> None:
    commands = shell_examples(document.read_text())
    # The checkout after `make serve`: .venv/bin/photosync, and photosync on PATH for the docs
    # that write it bare (an activated virtual environment).
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    script = ["set -eo pipefail"]
    for number, command in enumerate(commands):
        script += [f"printf '\\n>>> {number}\\n'", command.replace(MAKE_SERVE_URL, demo.url)]
    env = {
        **demo.env,
        "PATH": f"{tmp_path / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    ran = re.findall(r"^>>> (\d+)$", done.stdout, re.MULTILINE)
    last = commands[int(ran[-1])] if ran else "(none)"
    assert done.returncode == 0, f"`{last}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert len(ran) == len(commands)
    assert "Traceback" not in done.stderr
    if document.name == "README.md":
        _check_readme_answers(done.stdout, tmp_path)


def _check_readme_answers(output: str, folder: Path) -> None:
    """What the README's lines are for: a token, photo metadata, an upload, files written."""
    answers = dict(re.findall(r"^>>> (\d+)\n(.*?)(?=^>>> |\Z)", output, re.MULTILINE | re.DOTALL))
    metadata = json.loads(answers["1"])
    assert metadata["@odata.mediaContentType"] == "image/jpeg" and metadata["width"] >= 96
    uploaded = json.loads(answers["3"])
    assert (
        uploaded["id"] == "240x240" and uploaded["@odata.mediaEtag"] != metadata["@odata.mediaEtag"]
    )
    assert (folder / "face.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (folder / "report.csv").read_text().startswith("upn,")
