"""ERP → CRM throughput: does the hub use a provider's whole rate limit, and nothing more?

A LocalHub runs in this process. The GestãoClick simulator and the store's connection both
get the same limit ``L`` requests per ``W`` seconds. ``N`` customers (valid, distinct CPFs)
are seeded straight into the ERP simulator (no rate limit, no notifications) and a bulk
sync is started through the API (``POST /api/v1/stores/<store>/sync/customer/bulk``): the
low lane reads the ERP page by page and enqueues one change per record, the default lane's
workers create them in GestãoClick. Each create is exactly one provider request.

Measured from the provider's side (the simulator's own creation timestamps of the first
and the last record): records, seconds, records_per_s, utilisation = records_per_s /
limit_per_s, 429 answers, the peak number of requests in any sliding window (vs L),
duplicates (same CPF twice) and lost records (enqueued, never created). Target:
utilisation ≥ 0.9, zero 429s, zero duplicates, zero lost.

Diagnosis, from in-process probes around the worker, the engine, the rate limiter, the
provider client and every boto3 call: where a worker's time goes per record, how many
workers were busy on average, how the provider requests were spaced (every gap longer
than the limiter's interval is lost capacity) and how late threads wake up (GIL).
"""

from __future__ import annotations

import bisect
import itertools
import os
import statistics
import time
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from bench.common import (
    Check,
    Probe,
    SchedulingMonitor,
    Span,
    all_met,
    customer_data,
    distinct_cpfs,
    load_average,
    local_hub,
    machine,
    now_iso,
    percentile,
    say,
    say_problems,
    setup_store,
    summarize_ms,
)

NAME = "sync_throughput"
STORE = "bench-sync"
# Requests per window, on the simulator and the connection. GestãoClick's documented limit
# is 3/s; 5/s is above it and keeps a 2,000-record run near 7 minutes. (Before two moto
# fixes in local/runtime/aws.py the local stack itself topped out near 7 records/s; the
# run at 5/s now reports a worker capacity of ~23 records/s, so higher limits should hold,
# but only 5/s has been measured.)
LIMIT = 5
WINDOW_S = 1.0
RECORDS = 2000  # N / (0.95 L / W) ≈ 420 s
SYNC_TIME_BOX_S = 480.0  # from the sync start; the benchmark stops there whatever happened
ENQUEUE_TIME_BOX_S = 180.0  # backlog mode: the bulk enqueue before the workers start
# "backlog" (default): enqueue all N first (default lane paused), then let the workers drain
# the backlog: the engine's steady-state throughput. "concurrent": workers run while the
# bulk job enqueues (locally both share one core through the GIL, so this mostly measures
# the enqueue rate).
MODE = os.environ.get("BENCH_SYNC_MODE", "backlog")
STALL_S = 45.0  # no new record for this long (after the first): stop waiting
TARGET_UTILISATION = 0.9
DEFAULT_LANE_THREADS = "sqs-SyncWorkerFunction.DefaultLane"
LOW_LANE_THREADS = "sqs-SyncWorkerFunction.LowLane"


def _install_probes(probe: Probe) -> None:
    import botocore.client

    import crmhub.bulk
    from crmhub.providers.http import ProviderHttp
    from crmhub.rate_limit import RateLimiter
    from crmhub.sync.engine import SyncEngine
    from crmhub.sync.worker import SyncWorker

    def batch_key(self: Any, event: dict, context: Any) -> tuple[int, int]:
        records = event.get("Records") or []
        groups = {(r.get("attributes") or {}).get("MessageGroupId") for r in records}
        return len(records), len(groups)

    probe.wrap(SyncWorker, "handle", "worker.batch", key=batch_key)
    probe.wrap(SyncWorker, "record_handler", "worker.record")
    probe.wrap(SyncEngine, "apply", "engine.apply", key=lambda self, message, **kw: message.local_id)
    probe.wrap(RateLimiter, "acquire", "limiter.acquire", keep_result=True)
    probe.wrap(ProviderHttp, "request", "provider.request", key=lambda self, method, path, **kw: f"{method} {path}")
    probe.wrap(
        botocore.client.BaseClient,
        "_make_api_call",
        "aws",
        key=lambda self, operation, params: f"{self.meta.service_model.service_name}.{operation}",
    )
    probe.wrap(crmhub.bulk, "process_bulk_page", "bulk.page")
    probe.wrap(crmhub.bulk, "accept_changes", "enqueue.page", keep_result=True)


def _seed_erp(erp_url: str, cpfs: list[str]) -> list[str]:
    """Create the customers in the ERP simulator's store; returns their ERP ids."""
    ids: list[str] = []
    with httpx.Client(base_url=erp_url, timeout=60) as erp:
        for start in range(0, len(cpfs), 500):
            chunk = [customer_data(start + i, cpf) for i, cpf in enumerate(cpfs[start : start + 500])]
            response = erp.post(f"/_sim/records/customers?store={STORE}", json=chunk)
            response.raise_for_status()
            ids.extend(str(r["id"]) for r in response.json()["data"])
    return ids


def _job(api: httpx.Client, job_id: str, *, direct: bool) -> dict[str, Any]:
    """The bulk job's progress, from ``GET …/jobs/{job_id}`` or else from the job list
    (the direct route answers 404 for ids containing ``#``)."""
    if direct:
        response = api.get(f"/api/v1/stores/{STORE}/jobs/{quote(job_id, safe='')}")
        return dict(response.json()) if response.status_code == 200 else {}
    for job in api.get(f"/api/v1/stores/{STORE}/jobs", params={"limit": 20}).json():
        if job.get("job_id") == job_id:
            return dict(job)
    return {}


def _gaps_analysis(acquires: list[Span], interval_s: float) -> dict[str, Any]:
    """Spacing of the provider requests as the limiter released them (end of ``acquire``).

    Every gap longer than the limiter's interval is capacity lost. It is split into
    ``starved`` (no worker had asked for a slot yet: the workers were busy elsewhere or
    idle) and ``waiting`` (a worker was already waiting: the bucket's next slot was further
    away, e.g. after a 429 throttled the connection).
    """
    ok = sorted((s for s in acquires if s.error is None), key=lambda s: s.end)
    if len(ok) < 2:
        return {}
    gaps = [b.end - a.end for a, b in itertools.pairwise(ok)]
    starved = waiting = 0.0
    for a, b in itertools.pairwise(ok):
        lost = (b.end - a.end) - interval_s
        if lost <= 0:
            continue
        asked_late = max(0.0, min(lost, b.start - (a.end + interval_s)))
        starved += asked_late
        waiting += lost - asked_late
    return {
        "interval_ms": round(interval_s * 1000, 1),
        "gap_p50_ms": round(percentile(gaps, 50) * 1000, 1),
        "gap_p90_ms": round(percentile(gaps, 90) * 1000, 1),
        "gap_p99_ms": round(percentile(gaps, 99) * 1000, 1),
        "gap_max_ms": round(max(gaps) * 1000, 1),
        "gaps_over_1_5x_interval": sum(1 for g in gaps if g > 1.5 * interval_s),
        "capacity_lost_s": round(starved + waiting, 1),
        "capacity_lost_no_worker_ready_s": round(starved, 1),
        "capacity_lost_worker_waiting_s": round(waiting, 1),
        "window_s": round(ok[-1].end - ok[0].end, 1),
    }


def _densest(times: list[float], limit: int, window_s: float) -> dict[str, Any]:
    """How close ``limit + 1`` consecutive events came: under ``window_s`` means a window
    held more than ``limit`` (the provider answers 429)."""
    times = sorted(times)
    spans = [times[i + limit] - times[i] for i in range(len(times) - limit)]
    if not spans:
        return {}
    return {
        "min_span_of_limit_plus_1_ms": round(min(spans) * 1000, 1),
        "windows_over_limit": sum(1 for x in spans if x < window_s),
    }


def _timeline(sends: list[float], origin: float, bucket_s: float = 10.0) -> list[dict[str, Any]]:
    counts: Counter[int] = Counter(int((t - origin) // bucket_s) for t in sends)
    if not counts:
        return []
    return [
        {"from_s": b * bucket_s, "requests_per_s": round(counts.get(b, 0) / bucket_s, 2)}
        for b in range(0, max(counts) + 1)
    ]


def _nested(children: list[Span], parents: list[Span]) -> list[Span]:
    """The children that ran inside one of the parents, on the same thread."""
    by_thread: dict[str, list[Span]] = {}
    for parent in parents:
        by_thread.setdefault(parent.thread, []).append(parent)
    starts = {t: sorted(p.start for p in ps) for t, ps in by_thread.items()}
    ordered = {t: sorted(ps, key=lambda p: p.start) for t, ps in by_thread.items()}
    out = []
    for child in children:
        if child.thread not in starts:
            continue
        i = bisect.bisect_right(starts[child.thread], child.start) - 1
        if i >= 0 and ordered[child.thread][i].end >= child.end:
            out.append(child)
    return out


def _bulk_calls(probe: Probe, pages: list[Span]) -> dict[str, float]:
    """boto3 calls the bulk job makes per enqueued record (inside ``process_bulk_page``)."""
    calls = _nested(probe.of("aws"), pages)
    enqueued = max(1, sum(len(s.value or []) for s in probe.of("enqueue.page")))
    by_op = Counter(str(s.key) for s in calls)
    return {k: round(v / enqueued, 2) for k, v in by_op.most_common()}


def _diagnosis(probe: Probe, t_first: float, t_last: float, interval_s: float, cpu_s: float) -> dict[str, Any]:
    window = max(t_last - t_first, 1e-9)

    def inside(spans: list[Span]) -> list[Span]:
        return [s for s in spans if s.start >= t_first and s.start <= t_last]

    default_batches = inside([s for s in probe.of("worker.batch") if s.thread.startswith(DEFAULT_LANE_THREADS)])
    records = inside([s for s in probe.of("worker.record") if s.thread.startswith(DEFAULT_LANE_THREADS)])
    acquires = inside(probe.of("limiter.acquire"))
    provider = inside(probe.of("provider.request"))
    lane_aws = inside([s for s in probe.of("aws") if s.thread.startswith(DEFAULT_LANE_THREADS)])
    aws = _nested(lane_aws, records)  # boto3 calls made while handling a record
    nested_ids = {id(s) for s in aws}
    receives = [s for s in lane_aws if s.key == "sqs.ReceiveMessage" and id(s) not in nested_ids]
    bulk_pages = probe.of("bulk.page")

    busy = sum(s.seconds for s in default_batches)
    record_time = sum(s.seconds for s in records)
    sleep_wait = sum(float(s.value or 0.0) for s in acquires if s.error is None)
    acquire_time = sum(s.seconds for s in acquires)
    provider_time = sum(s.seconds for s in provider)
    aws_time = sum(s.seconds for s in aws)
    n_records = max(len(records), 1)
    aws_by_op: Counter[str] = Counter()
    aws_ms_by_op: Counter[str] = Counter()
    for span in aws:
        aws_by_op[str(span.key)] += 1
        aws_ms_by_op[str(span.key)] += span.seconds * 1000
    per_record_ms = {
        "total": round(record_time / n_records * 1000, 1),
        "rate_limit_sleep": round(sleep_wait / n_records * 1000, 1),
        "rate_limit_dynamodb": round((acquire_time - sleep_wait) / n_records * 1000, 1),
        "provider_http": round(provider_time / n_records * 1000, 1),
        "aws_calls_outside_limiter": round((aws_time - (acquire_time - sleep_wait)) / n_records * 1000, 1),
    }
    per_record_ms["python_other"] = round(
        per_record_ms["total"]
        - per_record_ms["rate_limit_sleep"]
        - per_record_ms["rate_limit_dynamodb"]
        - per_record_ms["provider_http"]
        - per_record_ms["aws_calls_outside_limiter"],
        1,
    )
    work_ms = per_record_ms["total"] - per_record_ms["rate_limit_sleep"]
    batch_sizes = [s.key[0] for s in default_batches if isinstance(s.key, tuple)]
    batch_groups = [s.key[1] for s in default_batches if isinstance(s.key, tuple)]
    threads = sorted({s.thread for s in default_batches})
    busy_avg = busy / window
    return {
        "window_s": round(window, 1),
        "default_lane_workers_seen": len(threads),
        "workers_busy_avg": round(busy_avg, 2),
        "batches": len(default_batches),
        "batch_records_mean": round(statistics.fmean(batch_sizes), 2) if batch_sizes else None,
        "batch_distinct_groups_mean": round(statistics.fmean(batch_groups), 2) if batch_groups else None,
        "batch_duration_ms": summarize_ms([s.seconds * 1000 for s in default_batches]),
        "records_processed_in_window": len(records),
        "per_record_ms": per_record_ms,
        "per_record_work_ms_excluding_sleep": round(work_ms, 1),
        "aws_calls_per_record": round(len(aws) / n_records, 1),
        "aws_calls_per_record_by_op": {k: round(v / n_records, 2) for k, v in aws_by_op.most_common()},
        "aws_errors_by_op": dict(Counter(f"{s.key} {s.error}" for s in aws if s.error)),
        "aws_ms_per_call_by_op": {k: round(aws_ms_by_op[k] / aws_by_op[k], 1) for k, _ in aws_by_op.most_common()},
        "poller_receives": {
            "calls": len(receives),
            "mean_ms": round(statistics.fmean(s.seconds for s in receives) * 1000, 1) if receives else None,
            "total_s_all_workers": round(sum(s.seconds for s in receives), 1),
        },
        "limiter_budget_exhausted": sum(1 for s in acquires if s.error == "RateLimited"),
        "limiter_sleep_share_of_record_time": round(sleep_wait / record_time, 3) if record_time else None,
        "worker_capacity_per_s": round(busy_avg / (work_ms / 1000), 2) if work_ms > 0 else None,
        "limiter_rate_per_s": round(1 / interval_s, 2),
        "process_cpu_cores_used": round(cpu_s / window, 2),
        "bulk_pages": len(bulk_pages),
        "bulk_aws_calls_per_record_by_op": _bulk_calls(probe, bulk_pages),
        "bulk_page_ms": summarize_ms([s.seconds * 1000 for s in bulk_pages]),
    }


def run(records: int = RECORDS, limit: int = LIMIT, window_s: float = WINDOW_S, mode: str = MODE) -> dict[str, Any]:
    cpfs = distinct_cpfs(records, seed=202)
    wanted = set(cpfs)
    probe = Probe()
    monitor = SchedulingMonitor()
    errors: list[str] = []
    started_run = time.perf_counter()
    load_before = load_average()
    with local_hub() as running:
        key = setup_store(running, STORE, rate_limit=limit, window_s=window_s)
        # keep every request's arrival (time, status) for the spacing analysis
        httpx.post(f"{running.gc}/_sim/config", json={"recent_limit": records * 2 + 500}).raise_for_status()
        t0 = time.perf_counter()
        erp_ids = _seed_erp(running.erp, cpfs)
        say(f"sync_throughput: {len(erp_ids)} customers seeded in the ERP in {time.perf_counter() - t0:.1f} s")
        _install_probes(probe)
        monitor.start()
        api = httpx.Client(base_url=running.api, headers={"x-api-key": key}, timeout=30)
        gc = httpx.Client(base_url=running.gc, timeout=30)
        try:
            # backlog mode: the default lane's workers wait until everything is enqueued.
            lane = [p for p in running.hub.pollers.pollers if p.event.name == "DefaultLane"]
            if mode == "backlog":
                for poller in lane:
                    poller.stop(5.0)
            t_bulk = time.perf_counter()
            response = api.post(f"/api/v1/stores/{STORE}/sync/customer/bulk")
            if response.status_code not in (200, 202):
                raise RuntimeError(f"bulk start answered {response.status_code}: {response.text[:300]}")
            job_id = response.json()["job_id"]
            say(f"sync_throughput: bulk job started ({records} customers, limit {limit}/{window_s:g} s, {mode})")
            job_direct = api.get(f"/api/v1/stores/{STORE}/jobs/{quote(job_id, safe='')}").status_code == 200
            if not job_direct:
                errors.append(f"GET /api/v1/stores/{STORE}/jobs/<job_id> answers 404 for job id {job_id!r}")
            job: dict[str, Any] = {}
            enqueued_at: float | None = None
            if mode == "backlog":
                deadline = t_bulk + ENQUEUE_TIME_BOX_S
                while time.perf_counter() < deadline:
                    job = _job(api, job_id, direct=job_direct)
                    if job.get("status") == "done":
                        enqueued_at = time.perf_counter()
                        break
                    time.sleep(1.0)
                say(
                    f"sync_throughput: bulk job {job.get('status')} after {time.perf_counter() - t_bulk:.1f} s "
                    f"({(job.get('details') or {}).get('enqueued')} enqueued); starting the default lane"
                )
                if enqueued_at is None:
                    errors.append(f"bulk enqueue not done after {ENQUEUE_TIME_BOX_S:.0f} s; syncing what is queued")
                for poller in lane:
                    poller.start()
            cpu0 = time.process_time()
            t_sync = time.perf_counter()
            next_job_check = 0.0
            last_progress = (0, time.perf_counter())
            next_report = time.perf_counter() + 15
            while True:
                now = time.perf_counter()
                if enqueued_at is None and now >= next_job_check:
                    next_job_check = now + 2.0  # every API call competes with the workers for the GIL
                    job = _job(api, job_id, direct=job_direct)
                    if job.get("status") == "done":
                        enqueued_at = now
                        say(
                            f"sync_throughput: bulk job done in {now - t_bulk:.1f} s "
                            f"({job.get('details', {}).get('enqueued')} enqueued)"
                        )
                created = probe.counts[("provider.request", "POST /clientes", None)]
                if created != last_progress[0]:
                    last_progress = (created, now)
                if created >= records:
                    break
                if now - t_sync > SYNC_TIME_BOX_S:
                    errors.append(f"time box: {created}/{records} created after {SYNC_TIME_BOX_S:.0f} s")
                    break
                if now - last_progress[1] > STALL_S:
                    errors.append(f"stalled: {created}/{records} created, nothing new for {STALL_S:.0f} s")
                    break
                if now >= next_report:
                    say(f"sync_throughput: {created}/{records} created after {now - t_sync:.0f} s")
                    next_report = now + 15
                time.sleep(0.5)
            cpu_s = time.process_time() - cpu0
            running.hub.wait_idle(15)  # let the last records finish their bookkeeping
            sched = monitor.stop()

            stats = gc.get("/_sim/stats").json()
            listing = gc.get("/_sim/records/clientes").json()["data"]
            present = Counter("".join(ch for ch in str(r.get("cpf") or "") if ch.isdigit()) for r in listing)
            ids = sorted(int(r["id"]) for r in listing)
            first_meta = gc.get(f"/_sim/records/clientes/{ids[0]}").json() if ids else {}
            last_meta = gc.get(f"/_sim/records/clientes/{ids[-1]}").json() if ids else {}
            if enqueued_at is None:
                job = _job(api, job_id, direct=job_direct)
        finally:
            api.close()
            gc.close()
            probe.restore()
        console_problems = list(running.console.problems)
        console_counts = dict(running.console.counts)

    created_n = sum(1 for cpf in present if cpf in wanted)
    duplicates = sum(n - 1 for n in present.values() if n > 1)
    strangers = sum(n for cpf, n in present.items() if cpf not in wanted)
    enqueued = int((job.get("details") or {}).get("enqueued", 0))
    lost = len(wanted - set(present))
    seconds = None
    if first_meta and last_meta:
        seconds = (
            datetime.fromisoformat(last_meta["created_at"]) - datetime.fromisoformat(first_meta["created_at"])
        ).total_seconds()
    records_per_s = (len(listing) - 1) / seconds if seconds else 0.0
    limit_per_s = limit / window_s
    total_requests = int(stats.get("total_requests", 0))
    http_429 = int(stats.get("responses_429", 0))
    requests_per_s = (total_requests - 1) / seconds if seconds else 0.0
    utilisation = records_per_s / limit_per_s
    policy_interval = window_s / (limit * 0.95)

    creates = [s for s in probe.of("provider.request") if s.key == "POST /clientes" and s.error is None]
    t_first = min((s.start for s in creates), default=t_sync)
    t_last = max((s.start for s in creates), default=t_sync)
    diagnosis = _diagnosis(probe, t_first, t_last, policy_interval, cpu_s)
    acquires = [a for a in probe.of("limiter.acquire") if t_first - 5 <= a.end <= t_last + 5]
    sends = [a.end for a in acquires if a.error is None]
    diagnosis["request_spacing"] = _gaps_analysis(acquires, policy_interval)
    # The same spacing seen by the hub (when the limiter let each request go) and by the
    # simulator (when each request was admitted): the difference is the delivery jitter.
    diagnosis["densest_window_hub_side"] = _densest(sends, limit, window_s)
    arrivals = sorted(
        datetime.fromisoformat(r["at"]).timestamp() for r in stats.get("recent", []) if r.get("route") != "<unmatched>"
    )
    diagnosis["densest_window_simulator_side"] = _densest(arrivals, limit, window_s)
    if arrivals:
        diagnosis["http_429_at_s"] = [
            round(datetime.fromisoformat(r["at"]).timestamp() - arrivals[0], 1)
            for r in stats.get("recent", [])
            if r.get("status") == 429
        ][:50]
    diagnosis["scheduling_delay_ms"] = sched
    diagnosis["time_to_first_provider_request_s"] = round(t_first - t_sync, 2) if creates else None
    diagnosis["bulk_enqueue_s"] = round(enqueued_at - t_bulk, 1) if enqueued_at else None
    diagnosis["bulk_enqueue_records_per_s"] = round(enqueued / (enqueued_at - t_bulk), 2) if enqueued_at else None
    diagnosis["hub_console"] = console_counts

    checks = [
        Check("records created", f"{created_n}/{records}"),
        Check("records/s (limit)", f"{records_per_s:.2f} ({limit_per_s:g})"),
        Check(
            "utilisation",
            f"{utilisation:.3f}",
            f"≥ {TARGET_UTILISATION}",
            utilisation >= TARGET_UTILISATION,
        ),
        Check("HTTP 429", http_429, "0", http_429 == 0),
        Check("duplicates", duplicates, "0", duplicates == 0),
        Check("lost", lost, "0", lost == 0),
        Check("peak in a window", f"{stats.get('peak')} (limit {limit})", f"≤ {limit}", stats.get("peak", 0) <= limit),
    ]
    return {
        "benchmark": NAME,
        "measured_at": now_iso(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "mode": mode,
        "records_requested": records,
        "enqueued": enqueued,
        "records": created_n,
        "seconds": round(seconds, 2) if seconds else None,
        "records_per_s": round(records_per_s, 3),
        "requests": total_requests,
        "requests_per_s": round(requests_per_s, 3),
        "limit": limit,
        "window_s": window_s,
        "limit_per_s": limit_per_s,
        "limiter_headroom": 0.95,
        "utilisation": round(utilisation, 3),
        "utilisation_of_limiter_rate": round(records_per_s * policy_interval, 3),
        "http_429": http_429,
        "duplicates": duplicates,
        "unexpected_records": strangers,
        "lost": lost,
        "peak": stats.get("peak"),
        "peak_allowed": stats.get("peak_allowed"),
        "simulator_by_route": stats.get("by_route"),
        "job": {k: job.get(k) for k in ("status", "records_read", "total", "details")},
        "timeline_requests_per_s_10s": _timeline(sends, t_first),
        "diagnosis": diagnosis,
        "errors": errors,
        "hub_console_problems": console_problems,
        "elapsed_s": round(time.perf_counter() - started_run, 1),
        "target_utilisation": TARGET_UTILISATION,
        "target_met": all_met(checks),
        "summary": [c.as_dict() for c in checks],
    }


def report(result: dict[str, Any]) -> None:
    say(
        f"sync_throughput: {result['records']}/{result['records_requested']} records in {result['seconds']} s = "
        f"{result['records_per_s']} /s vs limit {result['limit_per_s']} /s → utilisation {result['utilisation']} "
        f"(of the limiter's 95 % rate: {result['utilisation_of_limiter_rate']})"
    )
    say(
        f"sync_throughput: 429s {result['http_429']}  duplicates {result['duplicates']}  lost {result['lost']}  "
        f"peak {result['peak']} (limit {result['limit']})  requests {result['requests']}"
    )
    d = result["diagnosis"]
    say(
        f"sync_throughput: workers busy {d['workers_busy_avg']} of {d['default_lane_workers_seen']} seen; "
        f"batches {d['batches']} x {d['batch_records_mean']} records, {d['batch_distinct_groups_mean']} groups each"
    )
    say(f"sync_throughput: per record (ms) {d['per_record_ms']}")
    say(
        f"sync_throughput: worker capacity ≈ {d['worker_capacity_per_s']} records/s vs limiter "
        f"{d['limiter_rate_per_s']} /s; CPU {d['process_cpu_cores_used']} cores; scheduling delay "
        f"{d['scheduling_delay_ms']}"
    )
    say(f"sync_throughput: request spacing {d['request_spacing']}")
    say(
        f"sync_throughput: densest {result['limit'] + 1} consecutive requests: hub side "
        f"{d.get('densest_window_hub_side')}, simulator side {d.get('densest_window_simulator_side')}; "
        f"429s at {d.get('http_429_at_s')} s"
    )
    say(
        f"sync_throughput: bulk enqueue {d.get('bulk_enqueue_s')} s ({d.get('bulk_enqueue_records_per_s')} records/s); "
        f"boto3 calls per enqueued record {d.get('bulk_aws_calls_per_record_by_op')}"
    )
    say_problems(NAME, result)


def main() -> dict[str, Any]:
    result = run()
    report(result)
    return result


if __name__ == "__main__":
    main()
