"""The lock's backstop: whatever door a save comes through (a form, the admin, an import,
a command, one written later), an entry or a visit of a locked enrollment, or her
enrollment's clinical fields, are not written. The doors refuse first with their own
message (diary.trial.locks); this catches one that forgot to ask."""

from __future__ import annotations

from django.db.models import Q

from diary.trial.locks import Locked, lock_problem, protocol_lock_problem
from diary.trial.models import Enrollment, Protocol

# What a locked enrollment keeps: who she is, her schedule, her status.
CLINICAL_FIELDS = [
    "study_id",
    "patient_id",
    "physician_id",
    "protocol_id",
    "arm_id",
    "start_date",
    "status",
    "withdrawn_on",
    "withdrawal_reason",
    "timezone",
]


def _locked_filter():
    return Q(locked_at__isnull=False) | Q(protocol__locked_at__isnull=False)


def refuse_child(sender, instance, raw=False, **kwargs) -> None:
    """pre_save and pre_delete of DiaryEntry and Visit: one query."""
    if raw or not instance.enrollment_id:
        return
    if Enrollment.objects.filter(_locked_filter(), pk=instance.enrollment_id).exists():
        enrollment = Enrollment.objects.select_related(
            "protocol", "locked_by", "protocol__locked_by"
        ).get(pk=instance.enrollment_id)
        raise Locked(lock_problem(enrollment))


def refuse_enrollment(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save of Enrollment: a locked one takes no change to its clinical fields (its
    lock, reminders and unblinding may change), and a locked protocol takes no new
    enrollment. One query."""
    if raw:
        return
    if instance.pk is None:
        if instance.protocol_id:
            protocol = Protocol.objects.select_related("locked_by").get(pk=instance.protocol_id)
            problem = protocol_lock_problem(protocol)
            if problem:
                raise Locked(problem)
        return
    clinical = {name.removesuffix("_id") for name in CLINICAL_FIELDS}
    if update_fields is not None and not {f.removesuffix("_id") for f in update_fields} & clinical:
        return
    stored = (
        Enrollment.objects.filter(_locked_filter(), pk=instance.pk).values(*CLINICAL_FIELDS).first()
    )
    if stored is None:
        return
    if any(stored[name] != getattr(instance, name) for name in CLINICAL_FIELDS):
        enrollment = Enrollment.objects.select_related(
            "protocol", "locked_by", "protocol__locked_by"
        ).get(pk=instance.pk)
        raise Locked(lock_problem(enrollment))


def connect() -> None:
    from django.db.models.signals import pre_delete, pre_save

    from diary.entries.models import DiaryEntry
    from diary.visits.models import Visit

    for model in (DiaryEntry, Visit):
        pre_save.connect(refuse_child, sender=model, dispatch_uid=f"lock-{model.__name__}")
        pre_delete.connect(refuse_child, sender=model, dispatch_uid=f"lock-del-{model.__name__}")
    pre_save.connect(refuse_enrollment, sender=Enrollment, dispatch_uid="lock-enrollment")
