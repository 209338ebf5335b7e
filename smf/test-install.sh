#!/bin/sh
# Check smf/install.sh --dry-run for both platforms on any machine: the
# platform is forced with --os (and once through a stand-in uname that says
# SunOS), so CI on Linux proves the illumos path too. Changes nothing.
# Exits non-zero on the first wrong answer, printing what was expected and
# the whole output.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
install=$here/install.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/duo-authd-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0

# run NAME ARGS...: the output and exit status of install.sh ARGS, kept in $tmp/NAME.
run() {
    name=$1
    shift
    set +e
    sh "$install" "$@" >"$tmp/$name" 2>&1
    echo $? >"$tmp/$name.rc"
    set -e
}

fail() {
    printf 'FAIL %s: %s\n' "$1" "$2" >&2
    sed 's/^/  | /' "$tmp/$1" >&2
    failed=1
}

# status NAME CODE: install.sh exited with CODE.
status() {
    rc=$(cat "$tmp/$1.rc")
    [ "$rc" = "$2" ] || fail "$1" "exit status $rc, expected $2"
}

# has NAME LINE...: each LINE is a whole line of the output.
has() {
    name=$1
    shift
    for line in "$@"; do
        grep -Fxq -- "$line" "$tmp/$name" || fail "$name" "no line '$line'"
    done
}

# has_one NAME LINE1 LINE2: one of the two lines is there (it depends on this machine).
has_one() {
    grep -Fxq -- "$2" "$tmp/$1" || grep -Fxq -- "$3" "$tmp/$1" ||
        fail "$1" "neither '$2' nor '$3'"
}

# lacks NAME TEXT...: no line contains TEXT.
lacks() {
    name=$1
    shift
    for text in "$@"; do
        if grep -Fq -- "$text" "$tmp/$name"; then
            fail "$name" "unexpected '$text'"
        fi
    done
}

ok() {
    [ "$failed" = 1 ] || printf 'ok   %s\n' "$1"
}

# --- illumos, pkgsrc prefix ---------------------------------------------------
run sunos --os sunos --prefix /opt/local --dry-run
status sunos 0
has sunos \
    "Dry run: these are the steps; nothing is changed." \
    "PREFIX=/opt/local ETCDIR=/opt/local/etc MANDIR=/opt/local/man OS=SunOS" \
    "+ install target/release/duo-authd -> /opt/local/sbin/duo-authd (mode 0755, owner root)" \
    "+ install target/release/duo-login -> /opt/local/sbin/duo-login (mode 0755, owner root)" \
    "+ install man/duo-authd.8 -> /opt/local/man/man8/duo-authd.8 (mode 0644, owner root)" \
    "+ install smf/duo-authd.xml -> /opt/local/lib/svc/manifest/duo-authd.xml (mode 0444, owner root)" \
    "+ svccfg import /opt/local/lib/svc/manifest/duo-authd.xml" \
    "  svcadm enable duo-authd && /opt/local/sbin/duo-authd health" \
    "Then point sshd at /opt/local/sbin/duo-login (ForceCommand), testing on a second port first: see duo-login(8)."
has_one sunos \
    "+ useradd -d /nonexistent -s /usr/bin/false -g duoauthd -c 'Duo login daemon' duoauthd" \
    "user duoauthd exists"
has_one sunos \
    "+ install smf/authd.toml.example -> /opt/local/etc/duo/authd.toml (mode 0600, owner duoauthd:duoauthd)" \
    "keeping the existing /opt/local/etc/duo/authd.toml"
lacks sunos systemctl /etc/systemd "edited:" "--system"
ok "install.sh --os sunos --prefix /opt/local --dry-run: SMF under /opt/local"

# --- illumos picks /opt/local by itself, and uname -s = SunOS means illumos ----
mkdir "$tmp/bin"
printf '#!/bin/sh\necho SunOS\n' >"$tmp/bin/uname"
chmod 0755 "$tmp/bin/uname"
PATH="$tmp/bin:$PATH" run uname-sunos --dry-run
status uname-sunos 0
has uname-sunos \
    "PREFIX=/opt/local ETCDIR=/opt/local/etc MANDIR=/opt/local/man OS=SunOS" \
    "+ svccfg import /opt/local/lib/svc/manifest/duo-authd.xml"
lacks uname-sunos systemctl
ok "install.sh --dry-run where uname -s says SunOS: SMF, prefix /opt/local by default"

# --- Linux, default prefix ----------------------------------------------------
run linux --os linux --dry-run
status linux 0
has linux \
    "PREFIX=/usr/local ETCDIR=/etc MANDIR=/usr/local/share/man OS=Linux" \
    "+ install target/release/duo-authd -> /usr/local/sbin/duo-authd (mode 0755, owner root)" \
    "+ install smf/duo-authd.service -> /etc/systemd/system/duo-authd.service (mode 0644, owner root)" \
    "  systemctl daemon-reload" \
    "  systemctl enable --now duo-authd && /usr/local/sbin/duo-authd health"
has_one linux \
    "+ install smf/authd.toml.example -> /etc/duo/authd.toml (mode 0600, owner duoauthd:duoauthd)" \
    "keeping the existing /etc/duo/authd.toml"
lacks linux svccfg svcadm /lib/svc/manifest
ok "install.sh --os linux --dry-run: systemd under /usr/local"

# --- Linux with the pkgsrc prefix: the unit follows the paths -----------------
run linux-opt --os linux --prefix /opt/local --dry-run
status linux-opt 0
has linux-opt \
    "PREFIX=/opt/local ETCDIR=/opt/local/etc MANDIR=/opt/local/man OS=Linux" \
    "+ install smf/duo-authd.service -> /etc/systemd/system/duo-authd.service (mode 0644, owner root), edited: s|/usr/local/sbin/duo-authd|/opt/local/sbin/duo-authd|; s|/etc/duo/authd.toml|/opt/local/etc/duo/authd.toml|"
lacks linux-opt svccfg
ok "install.sh --os linux --prefix /opt/local --dry-run: the unit is edited to match"

# --- a dry run changes nothing --------------------------------------------------
run untouched --os sunos --prefix "$tmp/prefix" --dry-run
status untouched 0
has untouched "+ svccfg import $tmp/prefix/lib/svc/manifest/duo-authd.xml"
if [ -e "$tmp/prefix" ]; then
    fail untouched "the dry run created $tmp/prefix"
fi
ok "install.sh --dry-run creates nothing"

# --- the README shows this very output --------------------------------------------
# Only where the machine matches the README's example (no /opt/local, no duoauthd).
if [ -e /opt/local ] || id duoauthd >/dev/null 2>&1 || grep -q '^duoauthd:' /etc/group 2>/dev/null; then
    echo "skip README comparison: /opt/local or a duoauthd account exists here, so the dry run differs"
else
    awk '/^   Dry run: these are the steps/ { on = 1 } on { print } on && /^   Then point sshd at/ { exit }' \
        "$here/../README.md" | sed 's/^   //' >"$tmp/readme"
    grep -v '^note: ' "$tmp/sunos" >"$tmp/sunos-steps"
    if ! diff -u "$tmp/readme" "$tmp/sunos-steps" >"$tmp/readme.diff"; then
        echo "FAIL README.md: its illumos dry run is not what install.sh prints now:" >&2
        sed 's/^/  | /' "$tmp/readme.diff" >&2
        failed=1
    fi
    ok "README.md shows the illumos dry run as install.sh prints it"
fi

# --- bad arguments are refused ----------------------------------------------------
run no-os-value --dry-run --os
status no-os-value 2
has no-os-value "install.sh: --os needs sunos or linux"
run relative --dry-run --prefix opt/local
status relative 2
has relative "install.sh: --prefix must be an absolute path, not 'opt/local'"
run unknown --dry-run --frobnicate
status unknown 2
has unknown "install.sh: unknown argument '--frobnicate' (try --help)"
ok "install.sh refuses a missing --os value, a relative --prefix and unknown flags"

exit "$failed"
