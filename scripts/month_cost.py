#!/usr/bin/env python3
"""What a month of the service costs on AWS, from what the benchmarks measured (BENCHMARKS.md,
"What a month costs").

Every count per operation below comes from a benchmark's call counters or durations (the
command that printed it is next to it); the prices are AWS's published us-east-1 list prices
(PRICES_TAKEN says when and how they were taken). The free tier is ignored. Prints the month
for 1,000, 10,000 and 100,000 authorized accounts, then how much each setting moves it.

    python3 scripts/month_cost.py
    python3 scripts/month_cost.py --accounts 50000 --margin 600 --schedule-min 10
    python3 scripts/month_cost.py --json        # the same figures, machine-readable
"""

import argparse
import json
import math
import sys

PRICES_TAKEN = (
    "AWS's published us-east-1 list prices as known to the author in 2025 (after DynamoDB's "
    "November 2024 on-demand price cut); not checked against a live price page: the machine "
    "that ran this had no internet access"
)
PRICES = {
    "lambda_request": 0.20 / 1e6,  # per request
    "lambda_gb_s_arm64": 0.0000133334,  # per GB-second, arm64 (the template's architecture)
    "lambda_gb_s_x86": 0.0000166667,
    "http_api_request": 1.00 / 1e6,  # HTTP API, first 300 million a month
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit
    "dynamodb_gb_month": 0.25,  # storage, table and index
    "dynamodb_pitr_gb_month": 0.20,  # continuous backups (the template enables them)
    "secret_month": 0.40,  # per secret
    "secret_call": 0.05 / 10_000,  # GetSecretValue
    "cloudwatch_metric_month": 0.30,  # custom metric (embedded metric format), first 10,000
    "cloudwatch_alarm_month": 0.10,  # standard-resolution alarm
    "logs_gb": 0.50,  # CloudWatch Logs ingestion
}

MONTH_S = 30 * 24 * 3600  # a 30-day month
TICKET_INTERVAL_S = 600  # WeChat pushes component_verify_ticket every 10 minutes
ACCESS_TOKEN_LIFETIME_S = 7200  # authorizer_access_token and component_access_token
# template.yaml's secrets: the component secret, the link key and the identity key
SECRETS = 3

# ---- measured per operation (see BENCHMARKS.md for each run, its load and its date) ----------
MEASURED = {
    # bash scripts/services.sh run cargo bench -p wxopen-tests --bench push_store
    "push": {
        "dynamodb": {"PutItem": 1},
        "handler_ms": 0.84,  # median, warm, DynamoDB Local
    },
    # SKIP_BUILD=1 bash scripts/bench-cold-start.sh --runs 9 (first response of a fresh process:
    # init, the secret fetch, the push and its write)
    "push_cold_ms": 23.01,
    # bash scripts/services.sh run cargo bench -p wxopen-tests --bench callback
    # (after the write-ahead exchange: 3 GetItem, 1 TransactWriteItems of 2 items, 4 UpdateItem)
    "callback": {
        "dynamodb": {"GetItem": 3, "TransactWriteItems": 1, "UpdateItem": 4},
        "transact_items": 2,
        "handler_ms": 63.13,  # median, 20 ms per WeChat call
    },
    # the cold-start benchmark's first responses for the authorization's other requests
    "auth_link_go_ms": 20.58,
    "auth_link_landing_ms": 8.94,
    # bash scripts/services.sh run cargo bench -p wxopen-tests --bench refresher -- \
    #     --due 1000 --stored 1000 --concurrency 16 --seed-concurrency 4
    # (2,000 UpdateItem for 1,000 refreshes; 7.23 s for the run at load average 13)
    "refresh": {
        "dynamodb_per_refresh": {"UpdateItem": 2.0},
        "item_bytes": 967,  # a refreshed account's item as DynamoDB sizes it
        "wall_ms_per_refresh": 7.229,  # at latency_ms per api_authorizer_token, concurrency 16
        "latency_ms": 50,
        "concurrency": 16,
    },
    # the same with --due 1 --stored 1: what a run costs whatever is due. Measured: 16 Query
    # (one per partition) and 1 GetItem in 0.41 s; read from the code besides: the component
    # token read the benchmark makes before its clock starts, and the two reads the metrics
    # make (ticket and component token) after the run.
    "refresher_fixed": {
        "query_per_run": 16,
        "getitem_per_invocation": 1 + 1 + 2,
        "wall_ms": 410.8,
    },
    # bash scripts/services.sh run cargo bench --profile dev -p wxopen-tests --bench reconcile
    # steady pass over 100,000 listed accounts
    "reconcile_per_100k": {
        "dynamodb": {"BatchGetItem_items": 100_000, "PutItem": 200, "GetItem": 2},
        "wall_s": 72.2,
    },
}


def gb(memory_mb):
    return memory_mb / 1024


def month(accounts, s):
    """Counts and dollars for one month with `accounts` authorized accounts and settings `s`."""
    m = MEASURED
    item_bytes = s.item_bytes or m["refresh"]["item_bytes"]
    item_kb = math.ceil(item_bytes / 1024)
    item_4kb = math.ceil(item_bytes / 4096)
    lines = {}

    def add(what, lambda_requests=0, gb_s=0.0, api=0, wru=0.0, rru=0.0, secret_calls=0):
        lines[what] = {
            "lambda_requests": lambda_requests,
            "gb_s": gb_s,
            "api_requests": api,
            "wru": wru,
            "rru": rru,
            "secret_calls": secret_calls,
        }

    # Ticket pushes: one conditional PutItem of the ticket item (under 1 KB, not in the due
    # index). The secret is kept SECRET_MAX_AGE (5 min), less than the 10 minutes between
    # pushes, so each push fetches it; each is counted as a cold start (the worst case).
    pushes = MONTH_S / TICKET_INTERVAL_S
    add(
        "ticket pushes",
        lambda_requests=pushes,
        gb_s=pushes * gb(s.memory_mb) * billed_ms(m["push_cold_ms"]) / 1000,
        api=pushes,
        wru=pushes * 1,
        secret_calls=pushes,
    )

    # Authorizer token refreshes. A refresh made a little after a run starts stores the token
    # due `lifetime - margin` later (due_at = expires_at - margin), so the run that far on has
    # just missed it and the next one takes it: one refresh every lifetime - margin rounded
    # down to the schedule, plus one period (6,300 s with the defaults).
    period = s.schedule_min * 60
    interval = ((ACCESS_TOKEN_LIFETIME_S - s.margin) // period + 1) * period
    refreshes = accounts * MONTH_S / interval
    r = m["refresh"]
    # Per refresh two conditional UpdateItems of the account (the lease, the new tokens); both
    # move due_at, the due index's sort key, so each also deletes and puts the index's copy
    # (projection ALL): 3 writes of the item's size each.
    updates = r["dynamodb_per_refresh"].get("UpdateItem", 0)
    wru_per_refresh = updates * 3 * item_kb
    # The index is read as pages of due items (eventually consistent: half a unit per 4 KB).
    rru_per_refresh = 0.5 * item_bytes / 4096
    wall_ms = r["wall_ms_per_refresh"] * (s.wechat_latency_ms / r["latency_ms"]) * (
        r["concurrency"] / s.concurrency
    )
    add(
        "authorizer refreshes",
        gb_s=refreshes * gb(s.refresher_memory_mb) * wall_ms / 1000,
        wru=refreshes * wru_per_refresh,
        rru=refreshes * rru_per_refresh,
    )

    # Scheduled invocations: `invocations` per run (the template's four, a quarter of the 16
    # partitions each), each reading the component token, its partitions and the metrics'
    # items whatever is due, and fetching the secret (the 5 min it is kept is a run's period).
    runs = MONTH_S / period
    invocations = runs * s.invocations
    fixed = m["refresher_fixed"]
    # Consistent GetItem: 1 unit; a Query of the index, eventually consistent: at least 0.5.
    fixed_rru = fixed["getitem_per_invocation"] * invocations + fixed["query_per_run"] * 0.5 * runs
    # Component token: refreshed on the same rule as an account's (a ticket read, a write).
    component_refreshes = MONTH_S / interval
    add(
        "refresher runs",
        lambda_requests=invocations,
        gb_s=invocations * gb(s.refresher_memory_mb) * billed_ms(fixed["wall_ms"]) / 1000,
        wru=component_refreshes * 1,
        rru=fixed_rru + component_refreshes * 1,
        secret_calls=invocations,
    )

    # Daily reconciliation: the steady pass scaled to the fleet (consistent BatchGetItem reads
    # of each listed account, the cursor written once per page of 500).
    rec = m["reconcile_per_100k"]
    scale = accounts / 100_000
    days = MONTH_S / 86400
    add(
        "daily reconciliation",
        lambda_requests=days,
        gb_s=days * gb(s.refresher_memory_mb) * rec["wall_s"] * scale,
        wru=days * rec["dynamodb"]["PutItem"] * scale,
        rru=days * (rec["dynamodb"]["BatchGetItem_items"] * item_4kb * scale + 2),
        secret_calls=days,
    )

    # New authorizations: landing page, the button, the callback, and WeChat's `authorized`
    # push. The callback's calls are counted by its benchmark; the button's and the push's are
    # read from the code (a session transaction and a pre-auth code; the push's record and the
    # settled event), each write at most 1 KB and each transaction item counted twice.
    auths = accounts * s.authorizations_share
    cb = m["callback"]
    cb_wru = cb["dynamodb"]["UpdateItem"] * item_kb + cb["transact_items"] * 2 * item_kb
    # Storing the account puts it in the due index; storing its tokens moves it there.
    cb_wru += 2 * item_kb
    cb_rru = cb["dynamodb"]["GetItem"] * 1
    go_wru, go_rru = 2 * 2 + 1, 1  # session transaction (2 items), link count; component token
    push_wru, push_rru = 1 + 1 + 2, 1  # event record and its index copy, settled; a read
    add(
        "new authorizations",
        lambda_requests=auths * 4,
        gb_s=auths
        * gb(s.memory_mb)
        * (
            billed_ms(cb["handler_ms"])
            + billed_ms(m["auth_link_go_ms"])
            + billed_ms(m["auth_link_landing_ms"])
            + billed_ms(m["push_cold_ms"])
        )
        / 1000,
        api=auths * 4,
        wru=auths * (cb_wru + go_wru + push_wru),
        rru=auths * (cb_rru + go_rru + push_rru),
        secret_calls=auths,
    )

    gb_s_price = PRICES["lambda_gb_s_x86" if s.x86 else "lambda_gb_s_arm64"]
    totals = {k: sum(line[k] for line in lines.values()) for k in next(iter(lines.values()))}
    # Stored: the account items in the table and again in the index (projection ALL).
    storage_gb = accounts * item_bytes * 2 / 1e9
    dollars = {
        "Lambda requests": totals["lambda_requests"] * PRICES["lambda_request"],
        "Lambda GB-s": totals["gb_s"] * gb_s_price,
        "API Gateway": totals["api_requests"] * PRICES["http_api_request"],
        "DynamoDB writes": totals["wru"] * PRICES["dynamodb_wru"],
        "DynamoDB reads": totals["rru"] * PRICES["dynamodb_rru"],
        "DynamoDB storage + PITR": storage_gb
        * (PRICES["dynamodb_gb_month"] + PRICES["dynamodb_pitr_gb_month"]),
        "Secrets Manager": SECRETS * PRICES["secret_month"]
        + totals["secret_calls"] * PRICES["secret_call"],
        "CloudWatch metrics + alarms": s.metrics * PRICES["cloudwatch_metric_month"]
        + 3 * PRICES["cloudwatch_alarm_month"],
    }
    return {
        "accounts": accounts,
        "refreshes_per_account": MONTH_S / interval,
        "refresh_interval_s": interval,
        "lines": lines,
        "totals": totals,
        "storage_gb": storage_gb,
        "dollars": dollars,
        "total": sum(dollars.values()),
    }


def billed_ms(ms):
    """Lambda bills whole milliseconds."""
    return math.ceil(ms)


def settings(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", default="1000,10000,100000")
    p.add_argument("--margin", type=int, default=1200, help="RefreshMarginSecs")
    p.add_argument("--schedule-min", type=int, default=5, help="RefreshSchedule, in minutes")
    p.add_argument("--invocations", type=int, default=4, help="scheduled invocations per run")
    p.add_argument("--concurrency", type=int, default=16, help="RefreshConcurrency")
    p.add_argument("--wechat-latency-ms", type=float, default=50.0)
    p.add_argument("--refresher-memory-mb", type=int, default=256)
    p.add_argument("--memory-mb", type=int, default=128, help="the other functions")
    p.add_argument(
        "--authorizations-share",
        type=float,
        default=0.1,
        help="new authorizations a month, as a share of the fleet",
    )
    p.add_argument("--metrics", type=int, default=8, help="custom metrics the refresher emits")
    p.add_argument("--x86", action="store_true", help="x86_64 instead of arm64")
    p.add_argument(
        "--item-bytes", type=int, default=0, help="an account's item size (default: measured)"
    )
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def money(x):
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:,.4f}"


def count(x):
    return f"{x:,.0f}"


def main():
    s = settings()
    fleets = [int(a) for a in s.accounts.split(",")]
    months = [month(n, s) for n in fleets]
    if s.json:
        print(json.dumps({"settings": vars(s), "prices": PRICES, "months": months}, indent=1))
        return 0
    header = "| | " + " | ".join(f"{n:,} accounts" for n in fleets) + " |"
    rule = "|---|" + "---|" * len(fleets)
    print(f"Prices: {PRICES_TAKEN}.")
    print(
        f"Settings: margin {s.margin} s, schedule every {s.schedule_min} min, "
        f"{s.invocations} invocations per run, concurrency {s.concurrency}, WeChat "
        f"{s.wechat_latency_ms:g} ms per call, refresher {s.refresher_memory_mb} MB, others "
        f"{s.memory_mb} MB, {'x86_64' if s.x86 else 'arm64'}, new authorizations "
        f"{s.authorizations_share:.0%} of the fleet a month; a 30-day month; free tier ignored."
    )
    print()
    print(header)
    print(rule)
    rows = [
        ("token refreshes per account", lambda m: f"{m['refreshes_per_account']:.0f}"),
        ("Lambda requests", lambda m: count(m["totals"]["lambda_requests"])),
        ("Lambda GB-seconds", lambda m: f"{m['totals']['gb_s']:,.1f}"),
        ("API Gateway requests", lambda m: count(m["totals"]["api_requests"])),
        ("DynamoDB write request units", lambda m: count(m["totals"]["wru"])),
        ("DynamoDB read request units", lambda m: count(m["totals"]["rru"])),
        ("Secrets Manager calls", lambda m: count(m["totals"]["secret_calls"])),
    ]
    for name, f in rows:
        print(f"| {name} | " + " | ".join(f(m) for m in months) + " |")
    for name in months[0]["dollars"]:
        print(f"| {name} ($) | " + " | ".join(money(m["dollars"][name]) for m in months) + " |")
    print("| **total** | " + " | ".join(f"**{money(m['total'])}**" for m in months) + " |")
    print()
    print("Where the write units go (share of the month's DynamoDB writes):")
    print()
    print(header)
    print(rule)
    for line in months[0]["lines"]:
        print(
            f"| {line} | "
            + " | ".join(
                f"{m['lines'][line]['wru'] / max(m['totals']['wru'], 1):.1%}" for m in months
            )
            + " |"
        )
    print()
    print("What the settings move (the total, each setting changed alone):")
    print()
    print(header)
    print(rule)
    base = vars(s)
    variants = [
        ("as above", {}),
        ("RefreshMarginSecs 300", {"margin": 300}),
        ("RefreshMarginSecs 3600", {"margin": 3600}),
        ("RefreshMarginSecs 5400", {"margin": 5400}),
        ("RefreshSchedule rate(1 minute)", {"schedule_min": 1}),
        ("RefreshSchedule rate(10 minutes)", {"schedule_min": 10}),
        ("refresher MemorySize 128", {"refresher_memory_mb": 128}),
        ("refresher MemorySize 1024", {"refresher_memory_mb": 1024}),
        ("16 invocations per run (one partition each)", {"invocations": 16}),
        ("1 invocation per run (all partitions)", {"invocations": 1}),
        ("RefreshConcurrency 64", {"concurrency": 64}),
        ("WeChat 250 ms per call", {"wechat_latency_ms": 250.0}),
        ("x86_64", {"x86": True}),
        ("account items over 1 KB (2 write units each)", {"item_bytes": 1100}),
    ]
    for name, change in variants:
        v = argparse.Namespace(**{**base, **change})
        print(
            f"| {name} | "
            + " | ".join(money(month(n, v)["total"]) for n in fleets)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
