"""An enrollment's audit trail: every recorded change, who, when, what and why.

Rows come from django-simple-history (the enrollment, its diary entries and clinic
visits, its protocol) and from AuditEvent (unblinding, unblinded exports, randomization
lists, invitations and changes of her or her physician's account rights), merged by
time. Each history row is compared with the previous row of the same object in Python,
so the trail takes a fixed number of queries however long it is. What the reader may not see (diary.
blinding: the arm and randomization number while she is blinded, the seed without
allocation access) reads "concealed".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Q

from diary.audit.models import AuditAction, AuditEvent
from diary.entries.models import DiaryEntry
from diary.trial import blinding
from diary.trial.models import Arm, Enrollment, Phase, Protocol
from diary.visits.models import Visit

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping columns that change with every save and say nothing to a reader.
SKIPPED = {"id", "updated_at", "created_at"}

TRAIL_COLUMNS = ["when", "who", "object", "action", "changes", "why"]
CONCEALED = "concealed"
# Audit event details that name an arm (older unblinding events recorded it).
ALLOCATION_DETAILS = {"arm"}


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


def _value(record, field, names, concealed=frozenset()) -> str:
    if field.name in concealed:
        return CONCEALED
    value = getattr(record, field.attname)
    if value is None or value == "":
        return "blank"
    if field.is_relation:
        return names.get((field.related_model, value), str(value))
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def _fields(record_class):
    return [
        f
        for f in record_class.instance_type._meta.concrete_fields
        if f.attname not in SKIPPED and not f.attname.startswith("history_")
    ]


def related_names(record_lists) -> dict:
    """{(model, pk): name} for every account, arm, protocol or enrollment the records
    point at, one query per related model, so the trail shows names, not numbers."""
    wanted: dict = {}
    for records in record_lists:
        for record in records:
            for field in _fields(type(record)):
                value = getattr(record, field.attname)
                if field.is_relation and value is not None:
                    wanted.setdefault(field.related_model, set()).add(value)
    names = {}
    for model, pks in wanted.items():
        for pk, obj in model._default_manager.in_bulk(pks).items():
            name_attribute = next(
                (a for a in ("username", "study_id", "code", "slug") if hasattr(obj, a)), None
            )
            names[(model, pk)] = getattr(obj, name_attribute) if name_attribute else str(obj)
    return names


def _history_rows(records, name_of, names, concealed=frozenset()) -> Iterator[TrailRow]:
    """Rows for history records ordered by object and time, each compared with the
    object's previous record; the `concealed` fields' values are not shown."""
    previous = {}
    for record in records:
        fields = _fields(type(record))
        before = previous.get(record.id)
        if before is None:
            changes = "; ".join(
                f"{f.name}: {_value(record, f, names, concealed)}"
                for f in fields
                if f.name in concealed or _value(record, f, names) != "blank"
            )
        else:
            changes = "; ".join(
                f"{f.name}: {_value(before, f, names, concealed)} → "
                f"{_value(record, f, names, concealed)}"
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


def details_text(event: AuditEvent, reader) -> str:
    """An event's details as `reader` may see them."""
    hidden = set()
    if event.protocol_id and blinding.is_blinded(reader, event.protocol, event.enrollment):
        hidden = ALLOCATION_DETAILS
    return "; ".join(
        f"{key}: {CONCEALED if key in hidden else value}"
        for key, value in sorted(event.details.items())
    )


def trail(enrollment: Enrollment, reader) -> list[TrailRow]:
    """The enrollment's whole trail as `reader` may see it, oldest first, in a fixed
    number of queries."""
    order = ["id", "history_date", "history_id"]
    protocol_id = enrollment.protocol_id
    hidden_allocation = (
        {"arm", "randomization_number"} if blinding.arm_for(enrollment, reader) is None else set()
    )
    hidden_seed = set() if blinding.sees_allocation(reader) else {"randomization_seed"}
    sources = [
        (
            Enrollment.history.filter(id=enrollment.pk),
            lambda r: f"Enrollment {r.study_id}",
            hidden_allocation,
        ),
        (
            DiaryEntry.history.filter(enrollment_id=enrollment.pk),
            lambda r: f"Entry {r.date:%Y-%m-%d}",
            set(),
        ),
        (
            Visit.history.filter(enrollment_id=enrollment.pk),
            lambda r: f"Visit {r.visit_date:%Y-%m-%d}",
            set(),
        ),
        (Protocol.history.filter(id=protocol_id), lambda r: f"Protocol {r.slug}", hidden_seed),
        (Arm.history.filter(protocol_id=protocol_id), lambda r: f"Arm {r.code}", set()),
        (
            Phase.history.filter(arm__protocol_id=protocol_id).select_related("arm"),
            lambda r: f"Arm {r.arm.code}, phase {r.order}",
            set(),
        ),
    ]
    loaded = [
        (list(records.select_related("history_user").order_by(*order)), name_of, hidden)
        for records, name_of, hidden in sources
    ]
    names = related_names(records for records, _, _ in loaded)
    rows: list[TrailRow] = []
    for records, name_of, hidden in loaded:
        rows += _history_rows(records, name_of, names, frozenset(hidden))
    events = AuditEvent.objects.filter(
        Q(enrollment=enrollment)
        | Q(protocol_id=enrollment.protocol_id, enrollment=None)
        # An unblinded export of every protocol revealed this patient's arm too.
        | Q(action=AuditAction.UNBLINDED_EXPORT, protocol=None)
        # Who could see her data, or act as her: her own and her physician's account.
        | Q(user_id__in=[enrollment.patient_id, enrollment.physician_id], enrollment=None)
    ).select_related("actor", "user", "protocol", "enrollment")
    for event in events:
        details = details_text(event, reader)
        rows.append(
            TrailRow(
                when=event.at,
                who=event.who,
                object=(
                    f"Enrollment {enrollment.study_id}"
                    if event.enrollment_id
                    else f"Protocol {event.protocol.slug}"
                    if event.protocol_id
                    else f"Account {event.user.username}"
                    if event.user_id
                    else "All protocols"
                ),
                action=event.get_action_display().lower(),
                changes=details,
                why=event.reason,
            )
        )
    rows.sort(key=lambda row: row.when)
    return rows
