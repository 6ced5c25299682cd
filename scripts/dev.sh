#!/usr/bin/env bash
# The whole service on this machine, as it runs in AWS, against its embedded defaults:
# DynamoDB Local and the Secrets Manager emulator (scripts/services.sh), the WeChat sandbox
# pushing a ticket every few seconds, the functions' handlers behind one origin, and the
# token refresher on a timer; the sandbox's mini program and official account authorize the
# platform for the users demo. Prints the URL to open and the demo's; Ctrl-C stops everything it
# started.
#
#   bash scripts/dev.sh            DEV_PORT (9000), SANDBOX_PORT (9100), TICKET_EVERY_SECS (10),
#                                  REFRESH_EVERY_SECS (60) change the defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEV_PORT=${DEV_PORT:-9000}
SANDBOX_PORT=${SANDBOX_PORT:-9100}
TICKET_EVERY_SECS=${TICKET_EVERY_SECS:-10}
REFRESH_EVERY_SECS=${REFRESH_EVERY_SECS:-60}
TARGET=${CARGO_TARGET_DIR:-target}
LOGS=.local/logs

QUIET=1 bash scripts/services.sh install
echo "dev: building the sandbox and the dev server" >&2
cargo build -q -p wechat-sandbox -p wxopen-dev

export SERVICES_INSTANCE=dev
started=0
pids=()
cleanup() {
    trap - EXIT INT TERM
    if ((${#pids[@]})); then
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    if ((started)); then bash scripts/services.sh stop >/dev/null 2>&1 || true; fi
    echo "dev: stopped" >&2
}
trap cleanup EXIT INT TERM

bash scripts/services.sh start
started=1
# shellcheck disable=SC1091
source .local/dev.env
sandbox="http://127.0.0.1:$SANDBOX_PORT"
export WECHAT_API_BASE=$sandbox WECHAT_MP_BASE=$sandbox WECHAT_OPEN_BASE=$sandbox
export PUBLIC_BASE_URL="http://127.0.0.1:$DEV_PORT"
# The users demo (GET /demo/users, served by wxopen-dev) is the one page allowed to ask for a
# JS-SDK configuration and to be returned to after a web login.
DEMO_URL="$PUBLIC_BASE_URL/demo/users"
export JSSDK_ORIGINS=${JSSDK_ORIGINS:-$PUBLIC_BASE_URL}
export OAUTH_RETURN_TO=${OAUTH_RETURN_TO:-$DEMO_URL}
# Authorized accounts' messages go to a FIFO queue in moto, as the template's default does.
MESSAGE_QUEUE_URL=$(.local/venv/bin/python - <<'EOF'
import os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_SQS"])
print(sqs.create_queue(QueueName="wxopen-messages.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"])
EOF
)
export MESSAGE_QUEUE_URL

wait_for() {
    local url=$1 name=$2 log=$3
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    echo "dev: $name did not start; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
}

mkdir -p "$LOGS"
"$TARGET/debug/wxopen-dev" --port "$DEV_PORT" --refresh-every-secs "$REFRESH_EVERY_SECS" \
    >"$LOGS/dev.log" 2>&1 &
pids+=($!)
wait_for "$PUBLIC_BASE_URL/authorize" "the dev server" "$LOGS/dev.log"
# The demo merchant's link, minted as the platform's back office mints one (POST /links; the
# local server stands in for API Gateway's IAM check).
DEMO_LINK=$(curl -sf -X POST "$PUBLIC_BASE_URL/links" -H 'content-type: application/json' \
    -d '{"merchant": "demo-shop"}' |
    .local/venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["url"])') || {
    echo "dev: the dev server did not mint the demo link; the end of $LOGS/dev.log:" >&2
    tail -n 20 "$LOGS/dev.log" >&2
    exit 1
}

"$TARGET/debug/wechat-sandbox" --port "$SANDBOX_PORT" \
    --component-appid "$COMPONENT_APPID" \
    --event-url "$PUBLIC_BASE_URL/wechat/component/events" \
    --message-url "$PUBLIC_BASE_URL/wechat/authorizers/\$APPID\$/events" \
    --ticket-interval-secs "$TICKET_EVERY_SECS" \
    >"$LOGS/sandbox.log" 2>&1 &
pids+=($!)
wait_for "$sandbox/sandbox" "the WeChat sandbox" "$LOGS/sandbox.log"

# The demo's accounts (the sandbox's mini program and official account) authorize the platform
# as an administrator would on WeChat's page, through the sandbox's control API: a ticket first
# (the code exchange needs the component token), then each account's `authorized` push, which
# the receiver stores (bound to no merchant).
sandbox_post() {
    local path=$1 body=$2
    curl -sf -X POST "$sandbox$path" -H 'content-type: application/json' -d "$body" |
        .local/venv/bin/python -c '
import json, sys
answer = json.load(sys.stdin)
push = answer.get("push", answer)
sys.exit(0 if push and push.get("success") else 1)'
}
sandbox_post /sandbox/push-ticket '{}' || {
    echo "dev: the first ticket push failed; the end of $LOGS/dev.log:" >&2
    tail -n 20 "$LOGS/dev.log" >&2
    exit 1
}
for appid in wx5d8a1f3c7e9b2046 wx1c4e7a9d2b5f8036; do
    sandbox_post /sandbox/authorize "{\"authorizer_appid\": \"$appid\"}" || {
        echo "dev: $appid's authorization was not stored; the end of $LOGS/dev.log:" >&2
        tail -n 20 "$LOGS/dev.log" >&2
        exit 1
    }
done

cat <<EOF

  wxopen is running locally.

  Open  $DEMO_LINK

  (a link minted for merchant demo-shop, valid 24 hours; mint others with
   curl -X POST $PUBLIC_BASE_URL/links -d '{"merchant": "ID"}')

  Users demo      $DEMO_URL
                  (mini program login, JS-SDK and web login for the sandbox's mini program
                   wx5d8a1f3c7e9b2046 and official account wx1c4e7a9d2b5f8036, authorized above)
  WeChat sandbox  $sandbox/sandbox   (accounts, push a ticket, withdraw)
  release check   curl -X POST $sandbox/sandbox/release-check
  messages        handed on to $MESSAGE_QUEUE_URL
  logs            $LOGS/dev.log, $LOGS/sandbox.log
  state           in another terminal: source .local/dev.env &&
                  WECHAT_API_BASE=$sandbox cargo run -q -p wxopen-admin -- list

  Ctrl-C stops everything.
EOF

# Stop when either process ends (or on Ctrl-C, through the trap).
wait -n "${pids[@]}" || true
