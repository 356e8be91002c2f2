"""LDAP export: ``photosync sync now --all --from mailbox --to ldap`` of 1,000 people into a local
OpenLDAP ``slapd`` (users/s), and the second run, which writes nothing.

The baseline, measured in the same run: the bare cost of one person, the 96 px rendition of a
648 master (CPU) plus one ldap3 modify of a ready-made thumbnail on one connection, summed
over the people and spread over the machine's cores. The ratio says how close the connector
(the run's ledger, the entry lookup, the marks) comes to that. No target is set by the issue;
the figure is reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src"), str(HERE.parent / "tools")]

from _util import interleaved_ms, print_table  # noqa: E402

PEOPLE = 1_000
KEY = "bench-signing-key-not-a-secret-0123456789abcdef"


def main() -> int:
    from ldap3 import MODIFY_REPLACE
    from population import people_with_one_photo
    from slapd import ROOT_DN, ROOT_PASSWORD, start_slapd, stop_slapd

    from photosync import imaging
    from photosync.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-ldap-") as tmp:
        folder = Path(tmp)
        server = start_slapd(folder / "slapd")
        try:
            data = folder / "data"
            master = people_with_one_photo(Settings(data_dir=data, secret_key=KEY), PEOPLE)
            unit = server.add_unit("bench")
            with server.admin() as conn:
                for n in range(PEOPLE):
                    uid = f"p{n:04d}"
                    conn.add(
                        f"uid={uid},{unit}",
                        ["inetOrgPerson", "photosyncTestPerson"],
                        {"cn": uid, "sn": uid, "mail": f"{uid}@example.org"},
                    )
            env = {
                **os.environ,
                "PHOTOSYNC_DATA_DIR": str(data),
                "PHOTOSYNC_SECRET_KEY": KEY,
                "PHOTOSYNC_LDAP_URL": server.url,
                "PHOTOSYNC_LDAP_BIND_DN": ROOT_DN,
                "PHOTOSYNC_LDAP_PASSWORD": ROOT_PASSWORD,
                "PHOTOSYNC_LDAP_BASE_DN": unit,
                "PHOTOSYNC_LDAP_FILTER": "(objectClass=inetOrgPerson)",
                "PHOTOSYNC_LDAP_MATCH_ATTRIBUTE": "mail",
            }
            command = [sys.executable, "-m", "photosync", "sync", "now", "--all"]
            command += ["--from", "mailbox", "--to", "ldap"]
            timings = []
            for _ in range(2):  # the export, then the run with nothing new
                started = time.perf_counter()
                result = subprocess.run(command, env=env, capture_output=True, text=True)
                timings.append(time.perf_counter() - started)
                if result.returncode != 0:
                    print(result.stdout[-2000:], result.stderr[-2000:])
                    return 1

            thumbnail = imaging.render_square_sizes(master, (96,))[96]
            render_ms = interleaved_ms(
                {"render": lambda: imaging.render_square_sizes(master, (96,))},
                repeat=41,
                clock=time.process_time,
            )["render"]
            with server.admin() as conn:
                started = time.perf_counter()
                for n in range(PEOPLE):
                    conn.modify(  # type: ignore[no-untyped-call]
                        f"uid=p{n:04d},{unit}", {"jpegPhoto": [(MODIFY_REPLACE, [thumbnail])]}
                    )
                modify_ms = (time.perf_counter() - started) * 1000 / PEOPLE
        finally:
            stop_slapd(server)

    cores = os.cpu_count() or 1
    limit = 1000 / (render_ms / cores + modify_ms)
    first, second = PEOPLE / timings[0], PEOPLE / timings[1]
    print_table(
        ["measure", "value"],
        [
            [f"export of {PEOPLE} people (whole command)", f"{first:.0f} users/s"],
            ["second run (nothing new: writes nothing)", f"{second:.0f} users/s"],
            ["bare render 96 px (CPU ms / person)", f"{render_ms:.2f}"],
            ["bare ldap3 modify (ms / person, one connection)", f"{modify_ms:.2f}"],
            [f"bare limit ({cores} cores)", f"{limit:.0f} users/s"],
            ["export / bare limit", f"{first / limit:.2f}"],
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
