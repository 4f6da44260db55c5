#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 20 s each), from the seeds written from
# the hostile tables (fuzz/seeds/TARGET) and what earlier runs found (fuzz/corpus/TARGET).
# Exits non-zero at the first target that finds a failure; libFuzzer leaves the input in
# fuzz/artifacts/TARGET/ (replay it: cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#   fuzz/run.sh 3600 files_session      # one long run
#
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_head range target_names proxy_header files_session client_url response_head
    chunked)
cargo +nightly fuzz build
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "--- fuzz $target for ${seconds} s"
    set +e
    cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 |
        grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|==|SUMMARY|thread|assert| +left| +right)"
    status=${PIPESTATUS[0]} # libFuzzer's, not grep's: whether it found anything
    set -e
    [ "$status" -eq 0 ] || { echo "fuzz $target: failure found (fuzz/artifacts/$target)" >&2; exit 1; }
done
