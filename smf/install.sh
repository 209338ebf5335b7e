#!/bin/sh
# Install duo-authd (daemon), duo-login (shim), their man pages, the daemon's
# user, an example config and the service: SMF on illumos (uname -s = SunOS),
# systemd on Linux.
#
# Usage: smf/install.sh [--prefix DIR] [--os sunos|linux] [--dry-run]
#   Build first: cargo build --release
#   --prefix DIR  install prefix (default: /opt/local, pkgsrc's, on illumos;
#                 /usr/local elsewhere; or $PREFIX)
#   --os NAME     install for this platform instead of uname -s (sunos,
#                 illumos or linux); meant for --dry-run, as CI does
#   --dry-run     print every step, change nothing (needs no root)
#   ETCDIR        config root (default /etc for /usr and /usr/local, else PREFIX/etc)
#   MANDIR        man root (default PREFIX/man for /opt/local, else PREFIX/share/man)
#
# An existing config is never overwritten. duo-login is installed 0755 and is
# never setuid: it needs no privilege.
set -eu

# The comment block at the top of this file, without the '#'.
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$script"
}

here=$(cd "$(dirname "$0")" && pwd)
script=$here/install.sh
root=$(cd "$here/.." && pwd)

dry_run=no
prefix_arg=
# DUO_INSTALL_OS is the older spelling of --os.
os_arg=${DUO_INSTALL_OS:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run | -n) dry_run=yes ;;
        --prefix)
            [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
            prefix_arg=$2
            shift
            ;;
        --prefix=*) prefix_arg=${1#--prefix=} ;;
        --os)
            [ $# -ge 2 ] || { echo "install.sh: --os needs sunos or linux" >&2; exit 2; }
            os_arg=$2
            shift
            ;;
        --os=*) os_arg=${1#--os=} ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "install.sh: unknown argument '$1' (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

# The platform, spelled as uname -s spells it.
case "${os_arg:-$(uname -s)}" in
    SunOS | sunos | illumos | solaris) OS=SunOS ;;
    Linux | linux) OS=Linux ;;
    *) OS=${os_arg:-$(uname -s)} ;;
esac

case "$OS" in
    SunOS) default_prefix=/opt/local ;;
    *) default_prefix=/usr/local ;;
esac
PREFIX=${prefix_arg:-${PREFIX:-$default_prefix}}
case "$PREFIX" in
    /*) ;;
    *)
        echo "install.sh: --prefix must be an absolute path, not '$PREFIX'" >&2
        exit 2
        ;;
esac
case "$PREFIX" in
    /usr | /usr/local) ETCDIR=${ETCDIR:-/etc} ;;
    *) ETCDIR=${ETCDIR:-$PREFIX/etc} ;;
esac
case "$PREFIX" in
    /opt/local) MANDIR=${MANDIR:-$PREFIX/man} ;;
    *) MANDIR=${MANDIR:-$PREFIX/share/man} ;;
esac
DAEMON_USER=duoauthd

SBINDIR=$PREFIX/sbin
CONFDIR=$ETCDIR/duo
CONFIG=$CONFDIR/authd.toml

# Sources are named relative to the checkout, so the printed steps read the same anywhere.
cd "$root"
release=target/release

# --- helpers ------------------------------------------------------------------

say() {
    printf '%s\n' "$*"
}

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

# Print a command (arguments with spaces quoted), and run it unless --dry-run.
run() {
    line=+
    for a in "$@"; do
        case "$a" in
            *" "*) line="$line '$a'" ;;
            *) line="$line $a" ;;
        esac
    done
    printf '%s\n' "$line"
    if [ "$dry_run" = no ]; then
        "$@"
    fi
}

# install_file SRC DEST MODE [OWNER[:GROUP]]: copy beside DEST, set mode and
# owner, then rename over DEST (a running binary is replaced, not overwritten).
# cp/chmod/chown rather than install(1), whose options differ on illumos.
install_file() {
    printf '+ install %s -> %s (mode %s, owner %s)\n' "$1" "$2" "$3" "${4:-root}"
    [ "$dry_run" = no ] || return 0
    [ -f "$1" ] || die "$1 not found"
    cp "$1" "$2.new.$$"
    chmod "$3" "$2.new.$$"
    chown "${4:-root}" "$2.new.$$"
    mv -f "$2.new.$$" "$2"
}

# install_sed SRC DEST MODE SED-SCRIPT: as install_file, through sed (the
# edit is shown only when it changes something).
install_sed() {
    [ -f "$1" ] || die "$1 not found"
    if sed -e "$4" "$1" | cmp -s - "$1"; then
        printf '+ install %s -> %s (mode %s, owner root)\n' "$1" "$2" "$3"
    else
        printf '+ install %s -> %s (mode %s, owner root), edited: %s\n' "$1" "$2" "$3" "$4"
    fi
    [ "$dry_run" = no ] || return 0
    sed -e "$4" "$1" >"$2.new.$$"
    chmod "$3" "$2.new.$$"
    chown root "$2.new.$$"
    mv -f "$2.new.$$" "$2"
}

make_dir() {
    if [ ! -d "$1" ]; then
        run mkdir -p "$1"
        run chmod 0755 "$1"
    fi
}

# --- checks -----------------------------------------------------------------

case "$OS" in
    Linux | SunOS) ;;
    *) say "note: $OS is neither Linux nor illumos: no service will be installed." ;;
esac
if [ "$dry_run" = no ] && [ "$(id -u)" != 0 ]; then
    die "must run as root (or try --dry-run)"
fi
for bin in duo-authd duo-login; do
    if [ ! -x "$release/$bin" ]; then
        [ "$dry_run" = yes ] || die "$root/$release/$bin not found: run 'cargo build --release' first"
        say "note: $release/$bin is not built yet (cargo build --release)"
    fi
done

if [ "$dry_run" = yes ]; then
    say "Dry run: these are the steps; nothing is changed."
fi
say "PREFIX=$PREFIX ETCDIR=$ETCDIR MANDIR=$MANDIR OS=$OS"

# --- binaries and man pages -------------------------------------------------

make_dir "$SBINDIR"
install_file "$release/duo-authd" "$SBINDIR/duo-authd" 0755
# Not setuid: the shim runs with the logging-in user's own rights.
install_file "$release/duo-login" "$SBINDIR/duo-login" 0755

make_dir "$MANDIR/man8"
make_dir "$MANDIR/man5"
install_file "man/duo-authd.8" "$MANDIR/man8/duo-authd.8" 0644
install_file "man/duo-login.8" "$MANDIR/man8/duo-login.8" 0644
install_file "man/duo-authd.toml.5" "$MANDIR/man5/duo-authd.toml.5" 0644

# --- the daemon's user --------------------------------------------------------

if getent group "$DAEMON_USER" >/dev/null 2>&1 || grep -q "^$DAEMON_USER:" /etc/group 2>/dev/null; then
    say "group $DAEMON_USER exists"
else
    case "$OS" in
        Linux) run groupadd --system "$DAEMON_USER" ;;
        *) run groupadd "$DAEMON_USER" ;;
    esac
fi
if id "$DAEMON_USER" >/dev/null 2>&1; then
    say "user $DAEMON_USER exists"
else
    case "$OS" in
        Linux)
            nologin=/usr/sbin/nologin
            [ -x "$nologin" ] || nologin=/sbin/nologin
            [ -x "$nologin" ] || nologin=/bin/false
            run useradd --system --no-create-home --home-dir /nonexistent \
                --shell "$nologin" --gid "$DAEMON_USER" \
                --comment "Duo login daemon" "$DAEMON_USER"
            ;;
        *)
            run useradd -d /nonexistent -s /usr/bin/false -g "$DAEMON_USER" \
                -c "Duo login daemon" "$DAEMON_USER"
            ;;
    esac
fi

# --- config -------------------------------------------------------------------

make_dir "$CONFDIR"
run chown root "$CONFDIR"
if [ -e "$CONFIG" ]; then
    say "keeping the existing $CONFIG"
else
    # Holds the secret key: readable by the daemon's user alone.
    install_file smf/authd.toml.example "$CONFIG" 0600 "$DAEMON_USER:$DAEMON_USER"
    say "the example config at $CONFIG needs ikey, skey and host from the Duo Admin Panel."
    if [ -e "$CONFDIR/login_duo.conf" ]; then
        say "  (or convert the existing one: $SBINDIR/duo-authd import-conf $CONFDIR/login_duo.conf)"
    fi
fi

# --- service ------------------------------------------------------------------

# Paths in the service files follow PREFIX and ETCDIR.
case "$OS" in
    Linux)
        unit=/etc/systemd/system/duo-authd.service
        install_sed smf/duo-authd.service "$unit" 0644 \
            "s|/usr/local/sbin/duo-authd|$SBINDIR/duo-authd|; s|/etc/duo/authd.toml|$CONFIG|"
        say ""
        say "Next:"
        say "  edit $CONFIG, then: $SBINDIR/duo-authd check --config $CONFIG --online"
        say "  systemctl daemon-reload"
        say "  systemctl enable --now duo-authd && $SBINDIR/duo-authd health"
        ;;
    SunOS)
        manifest_dir=$PREFIX/lib/svc/manifest
        make_dir "$PREFIX/lib"
        make_dir "$PREFIX/lib/svc"
        make_dir "$manifest_dir"
        install_sed smf/duo-authd.xml "$manifest_dir/duo-authd.xml" 0444 \
            "s|/opt/local/sbin/duo-authd|$SBINDIR/duo-authd|; s|/opt/local/etc/duo/authd.toml|$CONFIG|g; s|/opt/local/man|$MANDIR|g"
        # Imported disabled: the daemon would stop at the example's placeholder keys.
        run svccfg import "$manifest_dir/duo-authd.xml"
        say ""
        say "Next:"
        say "  edit $CONFIG, then: $SBINDIR/duo-authd check --config $CONFIG --online"
        say "  svcadm enable duo-authd && $SBINDIR/duo-authd health"
        ;;
esac
say ""
say "Then point sshd at $SBINDIR/duo-login (ForceCommand), testing on a second port first: see duo-login(8)."
