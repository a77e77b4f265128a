"""A signature covers its phase's entries and visits as they were signed: any later
change to them (created, changed or voided, by any door) invalidates it. Saves one by
one are caught from their history rows (simple-history's post_create_historical_record);
bulk writers that bypass it (imports) call `sweep` after writing."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent
from diary.signoff.models import PhaseSignature

_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def change_text(record, what: str) -> str:
    """Which change: the record, what happened to it, who, why (at most 300 chars)."""
    action = _ACTIONS.get(record.history_type, "changed")
    if getattr(record, "voided", False):
        action = "voided"
    user = record.history_user
    who = user.username if user is not None else "an import or command"
    reason = (record.history_change_reason or "").strip()
    text = f"{what} {action} by {who}" + (f": {reason}" if reason else "")
    return text[:300]


def covering(enrollment_id: int, day: dt.date, *, visit: bool):
    """The valid signatures of her phases that cover `day`: an entry's day lies in the
    phase; a visit's too, or before the first phase (it counts for the first phase)."""
    covered = Q(first_day__lte=day, last_day__gte=day)
    if visit:
        first = (
            PhaseSignature.objects.filter(enrollment_id=enrollment_id)
            .order_by("first_day")
            .values_list("first_day", flat=True)
            .first()
        )
        if first is not None and day < first:
            covered = Q(first_day=first)
    return PhaseSignature.objects.valid().filter(covered, enrollment_id=enrollment_id)


def invalidate(enrollment_id: int, day: dt.date, change: str, *, visit: bool, when=None) -> int:
    """Mark the valid signatures covering `day` invalidated by `change`: each keeps its
    row, and an audit event says which and why."""
    when = when or timezone.now()
    with transaction.atomic():
        signatures = list(covering(enrollment_id, day, visit=visit).select_related("enrollment"))
        for signature in signatures:
            signature.invalidated_at = when
            signature.invalidated_by_change = change
            signature.save(update_fields=["invalidated_at", "invalidated_by_change"])
            AuditEvent.objects.create(
                action=AuditAction.SIGNATURE_INVALIDATED,
                actor_name="sign-off",
                protocol_id=signature.enrollment.protocol_id,
                enrollment_id=enrollment_id,
                reason=change,
                details={
                    "phase_order": signature.phase_order,
                    "phase": signature.phase,
                    "signed_by": signature.printed_name,
                    "signed_at": f"{signature.signed_at:%Y-%m-%d %H:%M:%S+00:00}",
                },
            )
    return len(signatures)


def record_changed(sender, history_instance=None, **kwargs) -> None:
    """post_create_historical_record: an entry's or a visit's history row."""
    from diary.entries.models import DiaryEntry
    from diary.visits.models import Visit

    instance = kwargs.get("instance")
    if isinstance(instance, DiaryEntry):
        day, what, visit = instance.date, f"Entry {instance.date:%Y-%m-%d}", False
    elif isinstance(instance, Visit):
        day, what, visit = instance.visit_date, f"Visit {instance.visit_date:%Y-%m-%d}", True
    else:
        return
    if not PhaseSignature.objects.filter(enrollment_id=instance.enrollment_id).exists():
        return
    invalidate(
        instance.enrollment_id,
        day,
        change_text(history_instance, what),
        visit=visit,
        when=history_instance.history_date,
    )


def sweep(enrollment_ids, since: dt.datetime) -> int:
    """After a bulk write: invalidate what the history rows written since `since` for
    these enrollments changed."""
    from diary.entries.models import DiaryEntry
    from diary.visits.models import Visit

    ids = list(enrollment_ids)
    signed = set(
        PhaseSignature.objects.valid()
        .filter(enrollment_id__in=ids)
        .values_list("enrollment_id", flat=True)
    )
    if not signed:
        return 0
    count = 0
    for model, field, label, visit in (
        (DiaryEntry, "date", "Entry", False),
        (Visit, "visit_date", "Visit", True),
    ):
        records = model.history.filter(
            enrollment_id__in=signed, history_date__gte=since
        ).select_related("history_user")
        for record in records:
            day = getattr(record, field)
            count += invalidate(
                record.enrollment_id,
                day,
                change_text(record, f"{label} {day:%Y-%m-%d}"),
                visit=visit,
                when=record.history_date,
            )
    return count
