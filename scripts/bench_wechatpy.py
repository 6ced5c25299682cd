"""wechatpy's CPU cost for one ticket push, as a reference for ours (issue 8).

Reads events/ticket-push.json (WeChat's published test key, documented in events/README.md) and
hands its body and query parameters to wechatpy's own entry point for component pushes,
WeChatComponent.parse_message: parse the envelope, check msg_signature, decrypt (AES-256-CBC
through `cryptography`), check the appid, parse the message, keep the ticket. Nothing is sent
anywhere. Prints microseconds per push: the best and the median of several repeats of many
pushes each.

    bash scripts/bench-wechatpy.sh              # installs wechatpy in .local/, runs this and ours
    .local/wechatpy-venv/bin/python scripts/bench_wechatpy.py [--pushes N] [--repeats R]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import wechatpy
from wechatpy.component import WeChatComponent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENT = os.path.join(ROOT, "events", "ticket-push.json")
# The sample key of events/README.md.
COMPONENT_APPID = "wxb11529c136998cb6"
TOKEN = "pamtest"
ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TICKET = "ticket@@@sample-verify-ticket"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20000, help="pushes per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    with open(EVENT, encoding="utf-8") as f:
        event = json.load(f)
    body = event["body"]
    query = event["queryStringParameters"]
    signature, timestamp, nonce = query["msg_signature"], query["timestamp"], query["nonce"]

    component = WeChatComponent(COMPONENT_APPID, "unused-appsecret", TOKEN, ENCODING_AES_KEY)
    # The push must be understood before it is timed.
    message = component.parse_message(body, signature, timestamp, nonce)
    assert message.type == "component_verify_ticket", message.type
    assert message.verify_ticket == TICKET, message.verify_ticket
    assert component.session.get("component_verify_ticket") == TICKET

    for _ in range(min(args.pushes, 2000)):  # warm-up
        component.parse_message(body, signature, timestamp, nonce)
    per_push = []
    for _ in range(args.repeats):
        started = time.perf_counter_ns()
        for _ in range(args.pushes):
            component.parse_message(body, signature, timestamp, nonce)
        per_push.append((time.perf_counter_ns() - started) / args.pushes / 1000.0)

    best, median = min(per_push), statistics.median(per_push)
    print(
        f"wechatpy {wechatpy.__version__} (Python {platform.python_version()}, "
        f"cryptography {_version('cryptography')}): "
        f"{args.repeats} x {args.pushes} pushes of events/ticket-push.json"
    )
    print(f"wechatpy per push: best {best:.2f} us, median {median:.2f} us")
    print(
        "result: "
        + json.dumps(
            {
                "implementation": "wechatpy",
                "version": wechatpy.__version__,
                "pushes": args.pushes,
                "repeats": args.repeats,
                "best_us": round(best, 2),
                "median_us": round(median, 2),
            }
        )
    )
    return 0


def _version(package):
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # noqa: BLE001 (only for the report line)
        return "?"


if __name__ == "__main__":
    sys.exit(main())
