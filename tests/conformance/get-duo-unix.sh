#!/usr/bin/env bash
# Fetch and build duo_unix (public, https://github.com/duosecurity/duo_unix) for the conformance
# run; never vendored. Prints the checkout's path. DUO_UNIX_DIR (default /tmp/duo_unix) is reused
# when already built; DUO_UNIX_REF picks a commit or tag (default: the default branch).
set -euo pipefail
dir=${DUO_UNIX_DIR:-/tmp/duo_unix}
if [ ! -f "$dir/tests/test_login_duo.py" ]; then
  git clone -q https://github.com/duosecurity/duo_unix "$dir" >&2
fi
if [ -n "${DUO_UNIX_REF:-}" ]; then git -C "$dir" checkout -q "$DUO_UNIX_REF" >&2; fi
if [ ! -x "$dir/login_duo/login_duo" ]; then
  need=()
  for t in autoconf automake libtool make gcc; do command -v "$t" >/dev/null || need+=("$t"); done
  [ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
  (cd "$dir" && ./bootstrap && ./configure && make -j2) >&2
fi
make -C "$dir/tests" sigpipe libgroups_preload.la liblogin_duo_preload.la >&2
python3 -c 'import pexpect' 2>/dev/null || python3 -m pip install -q pexpect==4.9.0 >&2
echo "$dir"
