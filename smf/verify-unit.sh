#!/bin/sh
# Check the service files in smf/:
#   - duo-authd.service with `systemd-analyze verify` (on a temporary copy whose
#     ExecStart points at an existing binary, since duo-authd is not installed
#     where the unit expects it on a build machine);
#   - duo-authd.xml against the SMF DTD with xmllint.
# Exits non-zero only when a check finds a real error. A missing tool is
# reported as SKIP and does not fail the run.
#
# DTD: $DTD if set, else <repo root>/../shared/smf/service_bundle.dtd.1.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))
unit="$here/duo-authd.service"
manifest="$here/duo-authd.xml"
dtd=${DTD:-"$root/../shared/smf/service_bundle.dtd.1"}

failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/duo-authd-verify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# --- systemd unit ---------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    stand_in=$(command -v true)
    sed "s|^ExecStart=/usr/local/sbin/duo-authd |ExecStart=$stand_in |" "$unit" >"$tmp/duo-authd.service"
    if ! grep -q "^ExecStart=$stand_in " "$tmp/duo-authd.service"; then
        echo "FAIL $unit: no 'ExecStart=/usr/local/sbin/duo-authd ...' line to check" >&2
        failed=1
    # --man=no: the man pages are in man/, not installed on a build machine.
    # A line naming our file and a line number is a directive systemd could not
    # parse and ignores ("Unknown key name", "Failed to parse"): an error here,
    # although systemd-analyze itself still exits 0 for it.
    elif systemd-analyze verify --man=no "$tmp/duo-authd.service" >"$tmp/analyze.out" 2>&1 &&
        ! grep -q 'duo-authd\.service:[0-9]' "$tmp/analyze.out"; then
        if [ -s "$tmp/analyze.out" ]; then
            sed 's/^/  note: /' "$tmp/analyze.out"
        fi
        echo "ok   $unit (systemd-analyze verify)"
    else
        sed 's/^/  /' "$tmp/analyze.out" >&2
        echo "FAIL $unit (systemd-analyze verify)" >&2
        failed=1
    fi
else
    echo "SKIP $unit: systemd-analyze not found"
fi

# --- SMF manifest -----------------------------------------------------------
if ! command -v xmllint >/dev/null 2>&1; then
    echo "SKIP $manifest: xmllint not found (Debian: apt-get install libxml2-utils)"
elif [ ! -r "$dtd" ]; then
    echo "FAIL $manifest: SMF DTD not found at $dtd (set DTD=/path/to/service_bundle.dtd.1)" >&2
    failed=1
elif xmllint --noout --nowarning --dtdvalid "$dtd" "$manifest"; then
    echo "ok   $manifest (xmllint --dtdvalid $dtd)"
else
    echo "FAIL $manifest (xmllint --dtdvalid $dtd)" >&2
    failed=1
fi

exit "$failed"
