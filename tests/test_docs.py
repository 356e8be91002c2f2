"""Docs are part of the code: the README's commands and the generated CLI reference stay true."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from gen_cli_docs import render  # noqa: E402


def test_cli_reference_is_generated_from_the_code() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == render(), "run `make docs`"


def test_readme_set_up_is_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S)
    setup = [line.strip() for line in blocks[0].splitlines() if line.strip()]
    assert setup == ["make serve"] or setup == ["make serve", "make test"], setup
    assert "make test" in readme


def test_makefile_targets_named_in_the_readme_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "test", "bench", "lint"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_ci_runs_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script
