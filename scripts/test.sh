#!/usr/bin/env bash
# The project's tests: local services (DynamoDB Local, moto's Secrets Manager) up for the run.
#   scripts/test.sh [cargo test args...]      SAM_LINT=1 (or CI set) also lints and scans template.yaml
#                                             (sam validate --lint, checkov)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/services.sh install
bash scripts/services.sh install-browser
if [[ -n "${SAM_LINT:-}" && "${SAM_LINT}" != 0 ]] || [[ -n "${CI:-}" ]]; then
    bash scripts/services.sh install-sam
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
        .local/sam-venv/bin/sam validate --lint --template template.yaml
    # The template's security scan: every check passes or is skipped with its reason inline
    # (Metadata: checkov: skip). --skip-download: nothing is fetched from checkov's vendor.
    bash scripts/services.sh install-checkov
    .local/checkov-venv/bin/checkov --file template.yaml --framework cloudformation \
        --compact --quiet --skip-download
fi
# Without arguments: every library's unit tests and every integration test (benchmarks are checked
# by clippy and run on their own; no crate has doc tests or tests in a main.rs). With arguments:
# exactly those, e.g. `-p wxopen-tests --test service faults::`.
if [[ $# -eq 0 ]]; then
    set -- --workspace --lib --tests
fi
exec bash scripts/services.sh run cargo test "$@"
