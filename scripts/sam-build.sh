#!/usr/bin/env bash
# `sam build` for every function (arm64, provided.al2023, cargo-lambda, release profile),
# then each function's deployment zip size. Target: under 5 MB each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/services.sh install-sam
bash scripts/services.sh install-lambda
export PATH="$PWD/.local/lambda-venv/bin:$PATH"
# The TLS library's jitter entropy source costs 10-50 ms per cold start.
export AWS_LC_SYS_NO_JITTER_ENTROPY=1
export SAM_CLI_TELEMETRY=0 AWS_REGION=${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1}
.local/sam-venv/bin/sam build --template template.yaml

printf '%-24s %12s %12s\n' function bootstrap zip
for dir in .aws-sam/build/*Function; do
    name=$(basename "$dir")
    zip=$(mktemp --suffix .zip)
    rm -f "$zip"
    (cd "$dir" && python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.write("bootstrap")' "$zip")
    printf '%-24s %12s %12s\n' "$name" "$(stat -c %s "$dir/bootstrap")" "$(stat -c %s "$zip")"
    rm -f "$zip"
done
