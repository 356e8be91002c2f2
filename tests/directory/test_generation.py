"""The shared generation (directory.generation): every mapping sees every bump, once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from photosync.directory.generation import SharedGeneration


def test_each_bump_is_seen_once_by_every_other_mapping(tmp_path: Path) -> None:
    server, cli = SharedGeneration(tmp_path), SharedGeneration(tmp_path)
    assert not server.changed() and not cli.changed()
    cli.bump()
    assert not cli.changed()  # the bumping process had already emptied its own cache
    assert server.changed() and not server.changed()
    # A bump by another process since this one last looked is not swallowed by its own bump.
    server.bump()
    cli.bump()
    assert cli.changed() and server.changed()
    assert (server.value, cli.value) == (3, 3)


def test_bumps_from_other_processes_all_count(tmp_path: Path) -> None:
    here = SharedGeneration(tmp_path)
    script = (
        "import sys; from pathlib import Path; "
        "from photosync.directory.generation import SharedGeneration as G; "
        "g = G(Path(sys.argv[1])); [g.bump() for _ in range(200)]"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) for _ in range(3)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]
    assert here.value == 600  # under the file lock, no bump is lost
    assert here.changed()
