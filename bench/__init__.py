"""crmhub benchmarks: cold start, vertical-slice latency and ERP → CRM sync throughput.

``python -m bench`` runs them all (``python -m bench cold_start`` runs one), prints a
summary table and writes one JSON file per benchmark into ``bench/results/``. Benchmarks
report numbers and whether each target was met; they never fail on a missed target.
"""
