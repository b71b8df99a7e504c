"""CRM → ERP import throughput: how fast a scheduled import brings provider records into the
ERP, and how much of the provider's budget it spends doing so.

A LocalHub runs in this process. ``RECORDS`` customers (valid, distinct CPFs) are seeded
straight into the GestãoClick simulator (GestãoClick has no webhooks and no changed-since
filter, so the hub pages through everything and compares snapshot hashes). The simulator
and the connection both get GestãoClick's documented limit (3 requests per second). An
import is started through the API (``POST /api/v1/stores/<store>/sync/gestaoclick/customer/import``,
the run the 10-minute schedule starts): one page per worker invocation, the cursor in the
job, every changed record through the inbound queue and worker into the ERP simulator.

Measured: records (in the ERP at the end), seconds (import start → last record in the
ERP), records_per_s, provider requests and requests per second, limit_per_s and
``utilisation`` = provider requests per second ÷ limit (the share of the rate budget the
import used; a list page carries ``PAGE_SIZE`` records, so an import is bounded by the
hub's ERP writes long before the provider's budget), 429s, duplicates and lost records.
Then the import runs again with nothing changed: it must write nothing (snapshot hashes).
Targets: every record exactly once, zero 429s, the second run writes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from bench.common import (
    Check,
    all_met,
    distinct_cpfs,
    format_cpf,
    local_hub,
    machine,
    now_iso,
    say,
    say_problems,
    setup_store,
)
from local.demo import wait_for

NAME = "import_throughput"
STORE = "bench-import"
RECORDS = 1000
LIMIT = 3  # GestãoClick's documented 3 requests per second
PAGE_SIZE = 20  # the simulator's default page (GestãoClick's is unverified)
TIME_BOX_S = 300.0


def _clientes(cpfs: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "tipo_pessoa": "PF",
            "nome": f"Importado {i}",
            "cpf": format_cpf(cpf),
            "email": f"importado{i}@example.com",
            "celular": f"(11) 9{i % 10000:04d}-{(i * 7) % 10000:04d}",
        }
        for i, cpf in enumerate(cpfs)
    ]


def _erp_documents(erp: httpx.Client) -> list[str]:
    data = erp.get("/_sim/records/customers", params={"store": STORE}).json()["data"]
    return ["".join(ch for ch in str(r.get("document") or "") if ch.isdigit()) for r in data]


def _run_import(api: httpx.Client) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = api.post(f"/api/v1/stores/{STORE}/sync/gestaoclick/customer/import")
    response.raise_for_status()
    job_id = response.json()["job_id"]
    job: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal job
        job = api.get(f"/api/v1/stores/{STORE}/jobs/{job_id}").json()
        return job.get("status") != "running"

    wait_for(finished, TIME_BOX_S, every_s=0.5)
    return job, started


def run(records: int = RECORDS) -> dict[str, Any]:
    cpfs = distinct_cpfs(records, seed=404)
    errors: list[str] = []
    started_run = time.perf_counter()
    with local_hub() as running:
        key = setup_store(running, STORE, rate_limit=LIMIT)
        api = httpx.Client(base_url=running.api, headers={"x-api-key": key}, timeout=30)
        gc = httpx.Client(base_url=running.gc, timeout=30)
        erp = httpx.Client(base_url=running.erp, timeout=30)
        gc.post("/_sim/config", json={"page_size": PAGE_SIZE}).raise_for_status()
        for offset in range(0, records, 500):
            gc.post("/_sim/records/clientes", json=_clientes(cpfs[offset : offset + 500])[: records - offset])
        before = gc.get("/_sim/stats").json()
        say(f"{NAME}: {records} customers seeded in GestãoClick; import at {LIMIT} req/s")
        job, started = _run_import(api)
        last_seen = [time.perf_counter()]
        count = [0]

        def all_in_erp() -> bool:
            documents = _erp_documents(erp)
            if len(documents) != count[0]:
                count[0] = len(documents)
                last_seen[0] = time.perf_counter()
            return len(documents) >= records

        if not wait_for(all_in_erp, TIME_BOX_S, every_s=0.5):
            errors.append(f"time box of {TIME_BOX_S:.0f} s reached with {count[0]}/{records} records in the ERP")
        running.hub.wait_idle(60)
        seconds = last_seen[0] - started
        after = gc.get("/_sim/stats").json()
        documents = _erp_documents(erp)
        say(f"{NAME}: {len(documents)}/{records} in the ERP after {seconds:.1f} s (job {job.get('status')})")
        # Second run: nothing changed on either side, so nothing may be written.
        erp_writes_before = Counter(documents)
        second_job, _ = _run_import(api)
        running.hub.wait_idle(60)
        second_documents = _erp_documents(erp)
        console_problems = list(running.console.problems)
        api.close()
        gc.close()
        erp.close()

    counts = Counter(documents)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = len(set(cpfs) - set(counts))
    requests = after["total_requests"] - before["total_requests"]
    http_429 = after["responses_429"] - before["responses_429"]
    records_per_s = len(counts) / seconds if seconds > 0 else 0.0
    requests_per_s = requests / seconds if seconds > 0 else 0.0
    second_writes = len(second_documents) - len(documents)
    changed_by_second = Counter(second_documents) != erp_writes_before
    checks = [
        Check("records", len(counts), f"= {records}", len(counts) == records),
        Check("records/s", round(records_per_s, 1)),
        Check("provider requests/s vs limit", f"{requests_per_s:.2f} / {LIMIT}", f"≤ {LIMIT}", requests_per_s <= LIMIT),
        Check("utilisation (budget share)", round(requests_per_s / LIMIT, 3)),
        Check("HTTP 429", http_429, "0", http_429 == 0),
        Check("duplicates", duplicates, "0", duplicates == 0),
        Check("lost", lost, "0", lost == 0),
        Check("second run writes", second_writes, "0", second_writes == 0 and not changed_by_second),
    ]
    return {
        "benchmark": NAME,
        "measured_at": now_iso(),
        "machine": machine(),
        "provider": "gestaoclick",
        "records": len(counts),
        "seconds": round(seconds, 2),
        "records_per_s": round(records_per_s, 2),
        "limit_per_s": LIMIT,
        "page_size": PAGE_SIZE,
        "provider_requests": requests,
        "provider_requests_per_s": round(requests_per_s, 3),
        "utilisation": round(requests_per_s / LIMIT, 3),
        "utilisation_note": "provider requests per second / limit: one list page brings "
        f"{PAGE_SIZE} records, so the import is bound by the hub's ERP writes, not by the budget",
        "http_429": http_429,
        "peak_requests_in_window": after.get("peak"),
        "duplicates": duplicates,
        "lost": lost,
        "job": {k: job.get(k) for k in ("status", "done", "total", "details")},
        "second_run": {"job_status": second_job.get("status"), "erp_writes": second_writes},
        "errors": errors,
        "hub_console_problems": console_problems,
        "elapsed_s": round(time.perf_counter() - started_run, 1),
        "target_met": all_met(checks),
        "summary": [c.as_dict() for c in checks],
    }


def main() -> dict[str, Any]:
    result = run()
    say(
        f"{NAME}: {result['records']} records in {result['seconds']} s = {result['records_per_s']}/s; "
        f"{result['provider_requests']} provider requests ({result['provider_requests_per_s']}/s, limit "
        f"{result['limit_per_s']}/s, utilisation {result['utilisation']}); 429s {result['http_429']}, "
        f"duplicates {result['duplicates']}, lost {result['lost']}"
    )
    say_problems(NAME, result)
    return result


if __name__ == "__main__":
    main()
