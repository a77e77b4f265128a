"""An enrollment's audit trail: every recorded change, who, when, what and why.

Rows come from django-simple-history (the enrollment, its diary entries, its protocol)
and from AuditEvent (unblinding, unblinded exports, invitations), merged by time. Each
history row is compared with the previous row of the same object in Python, so the
trail takes a fixed number of queries however long it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Q

from diary.models import (
    Arm,
    AuditAction,
    AuditEvent,
    DiaryEntry,
    Enrollment,
    Phase,
    Protocol,
)

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping columns that change with every save and say nothing to a reader.
SKIPPED = {"id", "updated_at", "created_at"}

TRAIL_COLUMNS = ["when", "who", "object", "action", "changes", "why"]


@dataclass
class TrailRow:
    when: dt.datetime
    who: str
    object: str
    action: str
    changes: str
    why: str

    def as_list(self) -> list[str]:
        return [
            self.when.isoformat(timespec="seconds"),
            self.who,
            self.object,
            self.action,
            self.changes,
            self.why,
        ]


def _value(record, field) -> str:
    value = getattr(record, field.attname)
    if value is None or value == "":
        return "blank"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def _history_rows(records, name_of) -> Iterator[TrailRow]:
    """Rows for history records ordered by object and time, each compared with the
    object's previous record."""
    previous = {}
    for record in records:
        fields = [
            f
            for f in record.instance_type._meta.concrete_fields
            if f.attname not in SKIPPED and not f.attname.startswith("history_")
        ]
        before = previous.get(record.id)
        if before is None:
            changes = "; ".join(
                f"{f.name}: {_value(record, f)}" for f in fields if _value(record, f) != "blank"
            )
        else:
            changes = "; ".join(
                f"{f.name}: {_value(before, f)} → {_value(record, f)}"
                for f in fields
                if getattr(before, f.attname) != getattr(record, f.attname)
            )
        previous[record.id] = record
        yield TrailRow(
            when=record.history_date,
            who=record.history_user.username if record.history_user_id else "",
            object=name_of(record),
            action=HISTORY_TYPES.get(record.history_type, record.history_type),
            changes=changes or "no field changed",
            why=record.history_change_reason or "",
        )


def trail(enrollment: Enrollment) -> list[TrailRow]:
    """The enrollment's whole trail, oldest first (six queries)."""
    rows: list[TrailRow] = []
    history_order = ["id", "history_date", "history_id"]
    rows += _history_rows(
        Enrollment.history.filter(id=enrollment.pk)
        .select_related("history_user")
        .order_by(*history_order),
        lambda record: f"Enrollment {record.study_id}",
    )
    rows += _history_rows(
        DiaryEntry.history.filter(enrollment_id=enrollment.pk)
        .select_related("history_user")
        .order_by(*history_order),
        lambda record: f"Entry {record.date:%Y-%m-%d}",
    )
    rows += _history_rows(
        Protocol.history.filter(id=enrollment.protocol_id)
        .select_related("history_user")
        .order_by(*history_order),
        lambda record: f"Protocol {record.slug}",
    )
    rows += _history_rows(
        Arm.history.filter(protocol_id=enrollment.protocol_id)
        .select_related("history_user")
        .order_by(*history_order),
        lambda record: f"Arm {record.code}",
    )
    rows += _history_rows(
        Phase.history.filter(arm__protocol_id=enrollment.protocol_id)
        .select_related("history_user", "arm")
        .order_by(*history_order),
        lambda record: f"Arm {record.arm.code}, phase {record.order}",
    )
    events = AuditEvent.objects.filter(
        Q(enrollment=enrollment)
        | Q(protocol_id=enrollment.protocol_id, enrollment=None)
        # An unblinded export of every protocol revealed this patient's arm too.
        | Q(action=AuditAction.UNBLINDED_EXPORT, protocol=None)
    ).select_related("actor", "user", "protocol")
    for event in events:
        details = "; ".join(f"{key}: {value}" for key, value in sorted(event.details.items()))
        rows.append(
            TrailRow(
                when=event.at,
                who=event.who,
                object=(
                    f"Enrollment {enrollment.study_id}"
                    if event.enrollment_id
                    else f"Protocol {event.protocol.slug}"
                    if event.protocol_id
                    else "All protocols"
                ),
                action=event.get_action_display().lower(),
                changes=details,
                why=event.reason,
            )
        )
    rows.sort(key=lambda row: row.when)
    return rows
