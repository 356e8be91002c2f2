"""Regenerate migration 0001 from the models (allowed only until the first release ships).

Run with `make migration`. Autogenerates against an empty SQLite database, then formats.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from photosync.db import make_engine
from photosync.migrations import HERE, alembic_config

versions = HERE / "versions"
later = sorted(p.name for p in versions.glob("*.py") if not p.name.startswith("0001_"))
if later:
    # They build on 0001 as it is: regenerating it from the models would apply them twice.
    sys.exit(f"0001 can no longer be regenerated: {', '.join(later)} build on it")
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{Path(tmp) / 'empty.db'}")
    command.revision(
        alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
    )
    engine.dispose()
ruff = Path(sys.executable).parent / "ruff"
subprocess.run([ruff, "check", "--fix", "-q", str(versions)], check=False)
subprocess.run([ruff, "format", "-q", str(versions)], check=True)
print(*sorted(p.name for p in versions.glob("*.py")))
