#!/bin/sh
# Install duo-authd (daemon), duo-login (shim), their man pages, the daemon's
# user, an example config and the service (systemd on Linux, SMF on illumos).
#
# Usage: smf/install.sh [--dry-run]
#   Build first: cargo build --release
#   PREFIX   install prefix (default /usr/local; pkgsrc on SmartOS: /opt/local)
#   ETCDIR   config root  (default /etc for /usr and /usr/local, else $PREFIX/etc)
#   MANDIR   man root     (default $PREFIX/man for pkgsrc's /opt/local, else $PREFIX/share/man)
#   --dry-run  print every step, change nothing (needs no root)
#
# An existing config is never overwritten. duo-login is installed 0755 and is
# never setuid: it needs no privilege.
set -eu

PREFIX=${PREFIX:-/usr/local}
case "$PREFIX" in
    /usr | /usr/local) ETCDIR=${ETCDIR:-/etc} ;;
    *) ETCDIR=${ETCDIR:-$PREFIX/etc} ;;
esac
case "$PREFIX" in
    /opt/local) MANDIR=${MANDIR:-$PREFIX/man} ;;
    *) MANDIR=${MANDIR:-$PREFIX/share/man} ;;
esac
# The platform; DUO_INSTALL_OS overrides it only to try the other branch with --dry-run.
OS=${DUO_INSTALL_OS:-$(uname -s)}
DAEMON_USER=duoauthd

SBINDIR=$PREFIX/sbin
CONFDIR=$ETCDIR/duo
CONFIG=$CONFDIR/authd.toml

dry_run=no
for arg in "$@"; do
    case "$arg" in
        --dry-run | -n) dry_run=yes ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
release=$root/target/release

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

# install_sed SRC DEST MODE SED-SCRIPT: as install_file, through sed.
install_sed() {
    printf '+ install %s -> %s (mode %s, owner root), edited: %s\n' "$1" "$2" "$3" "$4"
    [ "$dry_run" = no ] || return 0
    [ -f "$1" ] || die "$1 not found"
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
        [ "$dry_run" = yes ] || die "$release/$bin not found: run 'cargo build --release' first"
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
install_file "$root/man/duo-authd.8" "$MANDIR/man8/duo-authd.8" 0644
install_file "$root/man/duo-login.8" "$MANDIR/man8/duo-login.8" 0644
install_file "$root/man/duo-authd.toml.5" "$MANDIR/man5/duo-authd.toml.5" 0644

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
    install_file "$here/authd.toml.example" "$CONFIG" 0600 "$DAEMON_USER:$DAEMON_USER"
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
        install_sed "$here/duo-authd.service" "$unit" 0644 \
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
        install_sed "$here/duo-authd.xml" "$manifest_dir/duo-authd.xml" 0444 \
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
