#!/usr/bin/env bash
# Starts the one-command local stack (scripts/dev.sh), walks a merchant's authorization through
# it in headless Chromium (tests/tests/service/dev_stack.rs) and checks the account is stored,
# walks the users demo (mini program login, JS-SDK, web login) the same way, and runs the
# release check; then stops the stack. Bounded: the stack has 300 s to come up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/services.sh install-browser
cargo build -q -p wxopen-tests --test service
out=$(mktemp)
setsid bash scripts/dev.sh >"$out" 2>&1 &
dev=$!
stop() {
    kill -TERM "$dev" 2>/dev/null || true
    wait "$dev" 2>/dev/null || true
    rm -f "$out"
}
trap stop EXIT INT TERM

for _ in $(seq 1 300); do
    grep -q "Ctrl-C stops" "$out" && break
    if ! kill -0 "$dev" 2>/dev/null; then cat "$out" >&2; exit 1; fi
    sleep 1
done
grep -q "Ctrl-C stops" "$out" || { cat "$out" >&2; echo "check-dev: the stack did not start" >&2; exit 1; }
url=$(awk '/Open /{ print $2 }' "$out")
sandbox=$(awk '/WeChat sandbox/{ print $3 }' "$out")
echo "check-dev: the stack is up; walking ${url} in headless Chromium" >&2
(
    # shellcheck disable=SC1091
    source .local/dev.env
    WXOPEN_DEV_URL=${url%/authorize*} WXOPEN_SANDBOX_URL=${sandbox%/sandbox} \
        cargo test -q -p wxopen-tests --test service dev_stack:: -- --ignored
)
# WeChat's release check (全网发布), as the sandbox plays it, against the stack's message URL.
echo "check-dev: running the release check from ${sandbox%/sandbox}" >&2
curl -sf -X POST "${sandbox%/sandbox}/sandbox/release-check" | python3 -c '
import json, sys
report = json.load(sys.stdin)
cases = report["cases"]
failed = [c for c in cases if not c["passed"]]
print("check-dev: release check: %d of %d cases passed" % (len(cases) - len(failed), len(cases)), file=sys.stderr)
for case in failed:
    print("  failed:", case, file=sys.stderr)
sys.exit(1 if failed or len(cases) != 31 else 0)
'
