"""Three-way merge of one record, field by field.

``base`` is the last-synced snapshot (the common ancestor), ``erp`` and ``crm`` the two
sides now. A field changed on one side only takes that change — nothing is lost, unlike
timestamp-only last-write-wins. A field changed on both sides to different values follows
the policy; ``manual`` leaves each side as it is and reports a :class:`FieldConflict`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmhub.conflicts.policy import ConflictPolicy

Flat = dict[str, Any]


@dataclass(frozen=True)
class FieldConflict:
    """A field that needs a person."""

    field: str
    base: Any
    erp: Any
    crm: Any


@dataclass
class MergeResult:
    """What each side must become, what stays in conflict, and the new snapshot."""

    erp: Flat
    crm: Flat
    snapshot: Flat
    erp_changes: dict[str, Any] = field(default_factory=dict)
    crm_changes: dict[str, Any] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)
    decisions: dict[str, str] = field(default_factory=dict)  # field → how it was decided
    both_changed: dict[str, FieldConflict] = field(default_factory=dict)  # decided by the policy


def flatten(data: dict[str, Any], prefix: str = "") -> Flat:
    """``{"address": {"city": "X"}}`` → ``{"address.city": "X"}`` (lists stay whole)."""
    flat: Flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Flat) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    data: dict[str, Any] = {}
    for name, value in flat.items():
        parts = name.split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(a: Any, b: Any) -> bool:
    return (_empty(a) and _empty(b)) or a == b


def fold_text(text: str) -> str:
    """Accent-, case- and edge-space-insensitive form of ``text``."""
    normalized = unicodedata.normalize("NFKD", text)
    return "".join(c for c in normalized if not unicodedata.combining(c)).casefold().strip()


def similarity(a: Any, b: Any) -> float:
    """0–1 similarity of two values (accent- and case-insensitive, rapidfuzz ratio)."""
    from rapidfuzz import fuzz

    return fuzz.ratio(fold_text(str(a or "")), fold_text(str(b or ""))) / 100


def _newer_side(erp_at: datetime | None, crm_at: datetime | None) -> str:
    if erp_at is None and crm_at is None:
        return "erp"
    if crm_at is None:
        return "erp"
    if erp_at is None:
        return "crm"
    return "crm" if crm_at > erp_at else "erp"


def merge_three_way(
    base: Flat | None,
    erp: Flat,
    crm: Flat,
    policy: ConflictPolicy,
    *,
    erp_updated_at: datetime | None,
    crm_updated_at: datetime | None,
    keep_open: set[str] | frozenset[str] = frozenset(),
) -> MergeResult:
    """Merge flat records. ``base`` None means "no common ancestor" (first link): every
    difference is then a both-sides change. ``keep_open`` fields already have an open
    conflict: they stay as they are on both sides until it is resolved."""
    base = base or {}
    out_erp, out_crm, snapshot = dict(erp), dict(crm), dict(base)
    result = MergeResult(erp=out_erp, crm=out_crm, snapshot=snapshot)
    for name in sorted(set(erp) | set(crm) | set(base)):
        b, e, c = base.get(name), erp.get(name), crm.get(name)
        if _same(e, c):
            snapshot[name] = e
            continue
        if name in keep_open:
            result.decisions[name] = "open_conflict"
            continue
        if _same(e, b):
            winner, how = "crm", "crm_only_change"
        elif _same(c, b):
            winner, how = "erp", "erp_only_change"
        else:
            winner, how = _decide(name, e, c, policy, erp_updated_at, crm_updated_at)
            if winner != "manual":
                result.both_changed[name] = FieldConflict(name, b, e, c)
        result.decisions[name] = how
        if winner == "manual":
            result.conflicts.append(FieldConflict(name, b, e, c))
            continue
        value = e if winner == "erp" else c
        snapshot[name] = value
        if winner == "erp":
            out_crm[name] = value
            result.crm_changes[name] = value
        else:
            out_erp[name] = value
            result.erp_changes[name] = value
    return result


def _decide(
    name: str, e: Any, c: Any, policy: ConflictPolicy, erp_at: datetime | None, crm_at: datetime | None
) -> tuple[str, str]:
    strategy = policy.strategy_for(name)
    if strategy == "erp_wins":
        return "erp", strategy
    if strategy == "crm_wins":
        return "crm", strategy
    if strategy == "merge_non_empty":
        if _empty(e):
            return "crm", strategy
        if _empty(c):
            return "erp", strategy
        return _newer_side(erp_at, crm_at), "merge_non_empty→last_write_wins"
    if strategy == "manual":
        return "manual", strategy
    if strategy == "manual_if_different":
        if similarity(e, c) >= policy.similarity_threshold:
            return _newer_side(erp_at, crm_at), "similar→last_write_wins"
        return "manual", strategy
    return _newer_side(erp_at, crm_at), strategy
