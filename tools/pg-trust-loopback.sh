#!/usr/bin/env bash
# Usage: pg-trust-loopback.sh HBA_FILE
# Put "trust" for loopback TCP at the top of a PostgreSQL pg_hba.conf (a test machine only: the
# suite connects as "postgres" over TCP with no password). Says what it changes, and changes
# nothing when both lines are already there. Exit status 0 when the file was already right or
# was changed; the caller reloads PostgreSQL only on "changed" (printed on stdout).
set -euo pipefail

hba=${1:?usage: pg-trust-loopback.sh HBA_FILE}
lines=("host all all 127.0.0.1/32 trust" "host all all ::1/128 trust")

missing=()
for line in "${lines[@]}"; do
  # Whitespace in pg_hba.conf is free-form: compare the fields, not the spacing.
  if ! awk -v want="$line" '
      BEGIN { n = split(want, w, " ") }
      { if (NF != n) next; for (i = 1; i <= n; i++) if ($i != w[i]) next; found = 1 }
      END { exit found ? 0 : 1 }' "$hba"; then
    missing+=("$line")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "rewriting $hba: adding '$(IFS=/; echo "${missing[*]}")' at the top so the tests can connect as postgres over loopback TCP without a password (a test machine only)" >&2
tmp=$(mktemp)
{ printf '%s\n' "${missing[@]}"; cat "$hba"; } >"$tmp"
cat "$tmp" >"$hba"  # keep the file's owner and mode
rm -f "$tmp"
echo changed
