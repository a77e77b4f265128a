"""The enrollment list's filters, as the reader may see arms and phases."""

from __future__ import annotations

from django.contrib import admin

from diary.figures.overview import current_span
from diary.trial import blinding
from diary.trial.models import Arm, Enrollment, EnrollmentStatus, load_protocols
from diary.trial.phases import PhaseKind


class ArmFilter(admin.SimpleListFilter):
    """Filter by arm: only for allocation access (anyone else could sort the blinded
    patients into arms with it)."""

    title = "arm"
    parameter_name = "arm"

    def lookups(self, request, model_admin):
        arms = Arm.objects.select_related("protocol")
        return [(str(arm.pk), f"{arm.protocol.slug} / {arm.code}") for arm in arms]

    def queryset(self, request, queryset):
        if self.value():
            allowed = {str(pk) for pk, _ in self.lookup_choices}
            if self.value() not in allowed:
                return queryset.none()
            return queryset.filter(arm_id=self.value())
        return queryset


CURRENT_PHASE_CHOICES = [
    ("not-started", "Not started yet"),
    *[(kind.value, kind.label) for kind in PhaseKind],
    ("treatment", "Treatment (blinded)"),
    ("withdrawn", "Withdrawn"),
    ("finished", "Schedule over"),
]


def current_phase_key(enrollment, reader, today=None) -> str:
    """Where the enrollment is today, in the patient's own time zone, as `reader` may
    see it: a blinded reader's treatment phase is "treatment" whatever its kind."""
    today = today or enrollment.local_today()
    if today < enrollment.start_date:
        return "not-started"
    span = current_span(enrollment, blinding.schedule_for(enrollment, reader), today)
    if span is None:
        return "withdrawn" if enrollment.status == EnrollmentStatus.WITHDRAWN else "finished"
    return span.kind or "treatment"


class CurrentPhaseFilter(admin.SimpleListFilter):
    """Where each enrollment's schedule is today, as the reader may see it: the choices
    are the phases she can see in the protocols that have enrollments."""

    title = "current phase"
    parameter_name = "phase"

    def lookups(self, request, model_admin):
        protocols, _ = load_protocols(Enrollment.objects.values("protocol_id"))
        seen = {
            plan.kind or "treatment"
            for arm_plans in blinding.plans_by_arm(protocols.values(), request.user).values()
            for plan in arm_plans
        }
        always = {"not-started", "withdrawn", "finished"}
        return [(key, label) for key, label in CURRENT_PHASE_CHOICES if key in seen | always]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        candidates = queryset.model.objects.filter(pk__in=queryset.values("pk"))
        ids = [
            enrollment.pk
            for enrollment in candidates.load_with_schedules()
            if current_phase_key(enrollment, request.user) == self.value()
        ]
        return queryset.filter(pk__in=ids)
