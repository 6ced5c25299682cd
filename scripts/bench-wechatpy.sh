#!/usr/bin/env bash
# wechatpy next to us on the push path's CPU cost, in the same run: installs wechatpy and
# cryptography from PyPI into .local/wechatpy-venv (once), then times one ticket push
# (events/ticket-push.json) through wechatpy (scripts/bench_wechatpy.py) and through ours
# (tests/benches/push_cpu.rs, the same loop), then our criterion benchmark of the same path
# (shared/benches/push_path.rs).
#
#   bash scripts/bench-wechatpy.sh
#   SKIP_CRITERION=1 bash scripts/bench-wechatpy.sh   # only the two loops
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.local/wechatpy-venv
# wechatpy and everything it pulls in, pinned, so that a later run times the same Python code.
REQUIREMENTS=(
    "wechatpy==1.8.18" "cryptography==50.0.2" "cffi==2.1.1" "pycparser==3.12"
    "xmltodict==1.0.4" "optionaldict==0.1.2" "python-dateutil==4.0.0" "six==1.17.0"
    "requests==2.34.2" "urllib3==2.8.0" "idna==3.20" "charset-normalizer==3.5.3"
    "certifi==2026.10.19.post1" "tzdata==2026.6"
)
if [[ "$("$VENV/bin/pip" freeze 2>/dev/null | sort)" != "$(printf '%s\n' "${REQUIREMENTS[@]}" | sort)" ]]; then
    python3 -m venv --clear "$VENV"
    "$VENV/bin/pip" install --quiet "${REQUIREMENTS[@]}"
fi

# Built first, so the compiler is done before anything is timed.
cargo bench -p wxopen-tests --bench push_cpu --no-run
echo "load: $(uptime)"
"$VENV/bin/python" scripts/bench_wechatpy.py
cargo bench -p wxopen-tests --bench push_cpu
if [[ "${SKIP_CRITERION:-0}" != 1 ]]; then
    cargo bench -p wxopen --bench push_path
fi
echo "load: $(uptime)"
