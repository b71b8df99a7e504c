"""Canonical activity (call, meeting, task…) attached to a customer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from crmhub.models.base import CanonicalRecord


class Activity(CanonicalRecord):
    """Something done or to do with a customer."""

    customer_id: str | None = None
    type: Literal["call", "meeting", "task", "email", "whatsapp"] = "task"
    subject: str = Field(min_length=1, max_length=255)
    due_at: datetime | None = None
    done: bool = False
    notes: str | None = None
