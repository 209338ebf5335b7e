#!/usr/bin/env bash
# Fuzz every target for SECONDS each (default 60), one after another, single-process.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]     (from anywhere; needs network only to install cargo-fuzz)
# Exit 0: no crash; 1: a target crashed; 2: a target did not build.
# New interesting inputs go to fuzz/work/<target>/ (git-ignored); the checked-in seeds in
# fuzz/corpus/<target>/ are only read. Crashes land in fuzz/artifacts/<target>/ and make this exit 1.
set -euo pipefail

secs="${1:-60}"
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz passes -Z flags (sanitizers); a stable toolchain accepts them only with RUSTC_BOOTSTRAP=1.
if ! rustc -V | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Build first, so a tree that does not compile is told apart from a crash.
for t in "${targets[@]}"; do
    if ! cargo fuzz build "$t"; then
        echo "fuzz/run.sh: target $t does not build (not a fuzz finding)" >&2
        exit 2
    fi
done

failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/work/$t"
    echo "=== fuzz target $t for ${secs}s ===" >&2
    # -jobs/-workers/-fork left at their defaults: one process, the machine has 2 cores.
    if ! cargo fuzz run "$t" "$root/fuzz/work/$t" "$root/fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz/run.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: ${#targets[@]} targets, ${secs}s each, no crash" >&2
