#!/usr/bin/env bash
# Cold start of every function's release binary (tests/benches/cold_start.rs): builds the
# binaries as the deployment does (fat LTO: slow the first time), then starts each several
# times against a loopback stand-in for the Lambda Runtime API and the local services.
#
#   bash scripts/bench-cold-start.sh                 # 9 runs per event, interleaved
#   bash scripts/bench-cold-start.sh --runs 15       # flags go to the benchmark
#   SKIP_BUILD=1 bash scripts/bench-cold-start.sh    # binaries already built
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Every functions/* crate is a function; its binary has the directory's name. The floor
# (tests/floor, the smallest Rust function) is built with them, with the same profile.
packages=(-p cold-start-floor)
for dir in functions/*/; do
    [[ -f "$dir/Cargo.toml" ]] && packages+=(-p "$(basename "$dir")")
done
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    # The TLS library's jitter entropy source costs 10-50 ms per cold start (as sam-build.sh).
    AWS_LC_SYS_NO_JITTER_ENTROPY=1 cargo build --release "${packages[@]}"
fi
echo "load: $(uptime)"
exec bash scripts/services.sh run cargo bench -p wxopen-tests --bench cold_start -- "$@"
