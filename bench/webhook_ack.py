"""Webhook acknowledgement latency: how fast the hub answers a signed webhook.

A LocalHub runs in this process. The store's ERP signs its change notifications with
Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``: HMAC-SHA256
with the store's ``whsec_`` secret, set through ``PUT /api/v1/stores/<store>``). We POST
``REQUESTS`` distinct signed notifications (one customer change each) to
``/webhooks/erp/<store>`` one after another and time each answer: the
handler verifies the signature and the ±5-minute timestamp, stores the event under its
idempotency key, enqueues it and answers, with no provider call. Meanwhile the workers
drain the queue into the GestãoClick simulator, as they would in production, so the
numbers include that competition for the one Python process.

Then the first ``REPLAYS`` deliveries are sent again (a provider retrying): each must be
answered 200 as a duplicate and enqueue nothing. Reported: p50/p90/p99/max of the ack,
requests, non-2xx answers, duplicates recognised. Target (a local sanity bar, not from the
spec): p99 ≤ 500 ms, every first delivery accepted, every replay a duplicate.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from bench.common import (
    Check,
    all_met,
    customer_data,
    distinct_cpfs,
    local_hub,
    machine,
    now_iso,
    say,
    say_problems,
    setup_store,
    summarize_ms,
)

NAME = "webhook_ack"
STORE = "bench-webhooks"
REQUESTS = 1200
MIN_REQUESTS = 1000  # what a run must reach within its time box
WARMUP = 20
# One sender: the ack latency of a delivery, not the queueing of four concurrent ones in the
# local stack's single Python process (in Lambda each would have its own environment).
SENDERS = 1
REPLAYS = 100
RATE_LIMIT = 20
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789ab").decode()
TARGET_P99_MS = 500.0
TIME_BOX_S = 330.0


def _signed(index: int, cpf: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "entity": "customer",
            "local_id": f"wh-{index}",
            "operation": "upsert",
            "updated_at": datetime.now(UTC).isoformat(),
            "data": customer_data(index, cpf),
        }
    ).encode()
    msg_id = f"msg_bench_{index}"
    when = datetime.now(UTC)
    return body, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, when, body.decode()),
    }


def run(requests: int = REQUESTS, warmup: int = WARMUP) -> dict[str, Any]:
    total = requests + warmup
    cpfs = distinct_cpfs(total, seed=303)
    deliveries = [_signed(i, cpfs[i]) for i in range(total)]
    latencies: list[tuple[int, float]] = []
    answers: list[tuple[int, int, dict[str, Any]]] = []
    lock = threading.Lock()
    errors: list[str] = []
    started_run = time.perf_counter()
    with local_hub() as running:
        key = setup_store(running, STORE, rate_limit=RATE_LIMIT)
        from local.demo import create_admin_key

        admin = create_admin_key()
        httpx.put(
            f"{running.api}/api/v1/stores/{STORE}",
            headers={"x-api-key": admin},
            json={"name": "Bench", "erp_base_url": running.erp, "erp_webhook_secret": SECRET},
            timeout=30,
        ).raise_for_status()
        url = f"{running.api}/webhooks/erp/{STORE}"
        del key
        # Warm-up (the first call imports the handler: a cold start), sequential, not counted.
        with httpx.Client(timeout=30) as client:
            for index in range(warmup):
                body, headers = deliveries[index]
                client.post(url, content=body, headers=headers).raise_for_status()
        next_index = iter(range(warmup, total))

        def sender() -> None:
            with httpx.Client(timeout=30) as client:
                while time.perf_counter() - started_run < TIME_BOX_S:
                    with lock:
                        index = next(next_index, None)
                    if index is None:
                        return
                    body, headers = deliveries[index]
                    t0 = time.perf_counter()
                    try:
                        response = client.post(url, content=body, headers=headers)
                    except httpx.HTTPError as exc:
                        with lock:
                            errors.append(f"{index}: {type(exc).__name__}")
                        continue
                    elapsed = (time.perf_counter() - t0) * 1000
                    with lock:
                        latencies.append((index, elapsed))
                        answers.append((index, response.status_code, response.json() if response.content else {}))

        threads = [threading.Thread(target=sender, name=f"sender-{n}") for n in range(SENDERS)]
        sending_started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sending_s = time.perf_counter() - sending_started
        say(f"webhook_ack: {len(latencies)} webhooks acknowledged in {sending_s:.1f} s")
        # Replays: the provider delivers the same notifications again.
        replay_answers = []
        with httpx.Client(timeout=30) as client:
            for index in range(warmup, min(total, warmup + REPLAYS)):
                body, headers = deliveries[index]
                response = client.post(url, content=body, headers=headers)
                replay_answers.append((response.status_code, response.json() if response.content else {}))
        console_problems = list(running.console.problems)

    accepted = sum(1 for _, status, body in answers if status == 200 and body.get("accepted") == 1)
    non_2xx = [(i, s) for i, s, _ in answers if not 200 <= s < 300]
    replay_duplicates = sum(1 for s, b in replay_answers if s == 200 and b.get("duplicates") == 1)
    replay_accepted = sum(1 for s, b in replay_answers if b.get("accepted"))
    stats = summarize_ms([ms for _, ms in latencies])
    checks = [
        Check("signed webhooks", len(latencies), f"≥ {MIN_REQUESTS}", len(latencies) >= MIN_REQUESTS),
        Check("ack p50", f"{stats.get('p50_ms', float('nan')):.0f} ms"),
        Check(
            "ack p99",
            f"{stats.get('p99_ms', float('nan')):.0f} ms",
            f"≤ {TARGET_P99_MS:.0f} ms",
            bool(stats) and stats["p99_ms"] <= TARGET_P99_MS,
        ),
        Check("accepted", accepted, f"= {len(latencies)}", accepted == len(latencies)),
        Check(
            "replays recognised",
            f"{replay_duplicates}/{len(replay_answers)}",
            "all",
            replay_duplicates == len(replay_answers) and not replay_accepted,
        ),
        Check("errors", len(errors) + len(non_2xx), "0", not errors and not non_2xx),
    ]
    return {
        "benchmark": NAME,
        "measured_at": now_iso(),
        "machine": machine(),
        "scheme": "Standard Webhooks (HMAC-SHA256, whsec_ secret, ±5 min timestamp tolerance) on /webhooks/erp/{store}",
        "requests": len(latencies),
        "warmup_requests": warmup,
        "senders": SENDERS,
        **stats,
        "throughput_per_s": round(len(latencies) / sending_s, 1) if latencies else None,
        "accepted": accepted,
        "non_2xx": non_2xx[:20],
        "replays": len(replay_answers),
        "replay_duplicates": replay_duplicates,
        "errors": errors[:20],
        "hub_console_problems": console_problems,
        "elapsed_s": round(time.perf_counter() - started_run, 1),
        "target_p99_ms": TARGET_P99_MS,
        "target_met": all_met(checks),
        "summary": [c.as_dict() for c in checks],
    }


def main() -> dict[str, Any]:
    result = run()
    say(
        f"webhook_ack: {result['requests']} signed webhooks, {result['senders']} senders: "
        f"p50 {result.get('p50_ms')} ms "
        f"p99 {result.get('p99_ms')} ms max {result.get('max_ms')} ms; {result['throughput_per_s']}/s; "
        f"replays recognised {result['replay_duplicates']}/{result['replays']}"
    )
    say_problems(NAME, result)
    return result


if __name__ == "__main__":
    main()
