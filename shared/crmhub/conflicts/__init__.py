"""Conflict resolution: per-field three-way merge against the last-synced snapshot."""

from crmhub.conflicts.merge import FieldConflict, MergeResult, merge_three_way
from crmhub.conflicts.policy import ConflictPolicy, Strategy

__all__ = ["ConflictPolicy", "FieldConflict", "MergeResult", "Strategy", "merge_three_way"]
