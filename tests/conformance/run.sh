#!/usr/bin/env bash
# Run duo_unix's own login_duo test suite (tests/test_login_duo.py, with its tests/mockduo.py)
# against duo-authd + duo-login, and compare each test's outcome with expected.txt.
#
#   tests/conformance/run.sh /path/to/built/duo_unix    (or DUO_UNIX=/path ...)
#
# Needs root (the suite runs login_duo -f; our daemon starts as root and drops to duoauthd),
# unshare(1) and ip(8) (a private network namespace: the suite hard-codes port 4443), python3 with
# pexpect, openssl. Exit 0: every test as expected; 1: a difference (listed); 2: cannot run here.
# See tests/conformance/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
duo=${1:-${DUO_UNIX:-}}
[ -n "$duo" ] && [ -f "$duo/tests/test_login_duo.py" ] || {
  echo "usage: $0 DUO_UNIX_CHECKOUT (built: ./bootstrap && ./configure && make, then make -C tests sigpipe libgroups_preload.la liblogin_duo_preload.la)" >&2
  exit 2
}
duo=$(cd "$duo" && pwd)
[ -x "$duo/tests/sigpipe" ] || { echo "$duo has no tests/sigpipe: make -C tests sigpipe libgroups_preload.la liblogin_duo_preload.la" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
python3 -c 'import pexpect' 2>/dev/null || { echo "python3 has no pexpect (pip install pexpect)" >&2; exit 2; }

bin=${DUO_AUTHD_CONFORMANCE_BIN:-}
if [ -z "$bin" ]; then
  (cd "$repo" && cargo build -q -p duo-authd -p duo-login)
  bin="$repo/target/debug"
fi

work=$(mktemp -d /tmp/duo-conformance.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
# The suite finds login_duo at $BUILDDIR/login_duo/login_duo and its helpers under
# $BUILDDIR/tests and $BUILDDIR/lib: a copy of the tests (certificates reissued below), the
# adapter in place of the binary.
cp -a "$duo/tests" "$work/tests"
ln -s "$duo/lib" "$work/lib"
mkdir "$work/login_duo"
sed "s|@BIN@|$bin|" "$here/login_duo-adapter" >"$work/login_duo/login_duo"
chmod 0755 "$work/login_duo/login_duo"

# The mock's certificates name the host only in the CN; rustls (like every current TLS client)
# wants a subjectAltName. Reissue them, same names, from a fresh test CA; selfsigned.pem stays
# (it must fail). Nothing else of the suite is changed.
certs="$work/tests/certs"
(
  cd "$certs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Test Root CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout ca.key -out mockduo-ca.pem 2>/dev/null
  leaf() { # name, file, SANs
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$2.key" -out "$2.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$3" >"$2.ext"
    openssl x509 -req -in "$2.csr" -CA mockduo-ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile "$2.ext" -out "$2.crt" 2>/dev/null
    cat "$2.crt" "$2.key" >"$2"
    rm -f "$2.key" "$2.csr" "$2.ext" "$2.crt"
  }
  leaf localhost mockduo.pem "DNS:localhost,IP:127.0.0.1,IP:::1"
  leaf mockduo.wronghost mockduo-wronghost.pem "DNS:mockduo.wronghost"
  rm -f ca.key mockduo-ca.srl
)

log="$work/unittest.log"
echo "running duo_unix's test_login_duo.py against $bin (log: $log)"
# The adapter's per-call directories go under $work, so a call the suite kills mid-way leaves
# nothing behind once this script's trap removes $work. The daemon (nobody) must traverse it.
mkdir -m 0755 "$work/tmp"
chmod 0755 "$work"
set +e
TMPDIR="$work/tmp" BUILDDIR="$work" DUO_AUTHD_CONFORMANCE_BIN="$bin" unshare -n sh -c \
  'ip link set lo up && cd "$BUILDDIR/tests" && exec python3 -m unittest -v test_login_duo' >"$log" 2>&1
set -e
# Every test unittest started ("test_x (test_login_duo.Class.test_x)"), less those in its
# FAIL:/ERROR: report at the end (the verbose "... ok" can be interleaved with a test's output).
results="$work/results.txt"
python3 - "$log" >"$results" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
names = re.findall(r"^(test\w+) \((?:test_login_duo\.)?(\w+)\.\w+\)", text, re.M)
bad = set(re.findall(r"^(?:FAIL|ERROR): (test\w+) \((?:test_login_duo\.)?(\w+)\.\w+\)", text, re.M))
skipped = set(re.findall(r"^(test\w+) \((?:test_login_duo\.)?(\w+)\.\w+\)(?:\n[^\n]*)?\s\.\.\. skipped", text, re.M))
for name, cls in sorted(set(names), key=lambda x: (x[1], x[0])):
    res = "fail" if (name, cls) in bad else "skip" if (name, cls) in skipped else "pass"
    print(f"{cls}.{name} {res}")
PY
total=$(wc -l <"$results")
pass=$(grep -c ' pass$' "$results" || true)
echo "duo_unix test_login_duo.py: $total tests, $pass pass, $((total - pass)) do not (see docs/PARITY.md)"
if [ -n "${CONFORMANCE_KEEP:-}" ]; then cp "$results" "$CONFORMANCE_KEEP"; cp "$log" "$CONFORMANCE_KEEP.log"; fi
expected="$here/expected.txt"
if diff <(grep -v '^#' "$expected" | sed '/^$/d') "$results" >"$work/diff"; then
  echo "every outcome as in tests/conformance/expected.txt"
else
  echo "outcomes differ from tests/conformance/expected.txt (< expected, > now):" >&2
  cat "$work/diff" >&2
  exit 1
fi
