"""The coordinators' lock doors in the admin: lock an enrollment for analysis (with an
override reason when something is missing), unlock it with a reason, the database lock
of a protocol and its unlock; locked rows are read-only everywhere in the admin. The
rules are diary.signoff.locking's; the words of a refusal diary.trial.locks'."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404

from diary.admin.base import Wording, reason_page
from diary.signoff import locking
from diary.trial.locks import is_locked, lock_problem
from diary.trial.models import Enrollment, Protocol


class OverrideForm(forms.Form):
    reason = forms.CharField(
        label="Override reason",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=(
            "Only when something listed above is missing and you lock anyway: why. Recorded "
            "with your name and the time in the audit trail."
        ),
    )


class ProtocolLockForm(OverrideForm):
    reason = forms.CharField(
        label="Note",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional, e.g. the analysis plan's version. Kept in the audit trail.",
    )


def _coordinator(request) -> None:
    if not request.user.is_coordinator:
        raise Http404("Only coordinators lock data.")


def lock_enrollment_view(model_admin, request, pk):
    _coordinator(request)
    enrollment = get_object_or_404(Enrollment.objects.select_related("protocol"), pk=pk)
    problems = locking.lock_problems(enrollment)
    missing = " Missing: " + "; ".join(problems) + "." if problems else " Nothing is missing."
    wording = Wording(
        "Lock {subject.study_id} for analysis",
        "Once locked, nothing of her diary, visits or enrollment can change from any door "
        "(her diary, the care team's forms, the admin, imports) until a coordinator unlocks "
        "it with a reason." + missing,
        "Lock for analysis",
    )

    def act(data):
        locking.lock_enrollment(enrollment, request.user, override_reason=data.get("reason", ""))
        return f"{enrollment.study_id} is locked for analysis."

    return reason_page(
        model_admin, request, enrollment, act, wording, form=OverrideForm(request.POST or None)
    )


def unlock_enrollment_view(model_admin, request, pk):
    _coordinator(request)
    enrollment = get_object_or_404(Enrollment, pk=pk)
    wording = Wording(
        "Unlock {subject.study_id}",
        "Her data can change again (and signatures of changed phases are invalidated).",
        "Unlock",
    )

    def act(data):
        locking.unlock_enrollment(enrollment, request.user, reason=data["reason"])
        return f"{enrollment.study_id} is unlocked."

    return reason_page(model_admin, request, enrollment, act, wording)


def lock_protocol_view(model_admin, request, pk):
    _coordinator(request)
    protocol = get_object_or_404(Protocol, pk=pk)
    problems = locking.protocol_lock_problems(protocol)
    wording = Wording(
        "Database lock of {subject.slug}",
        "Every enrollment of this protocol takes no change until it is unlocked with a "
        "reason. All of them must be completed or withdrawn."
        + (" Missing: " + "; ".join(problems) + "." if problems else ""),
        "Lock the database",
    )

    def act(data):
        locking.lock_protocol(protocol, request.user, reason=data.get("reason", ""))
        return f"Protocol {protocol.slug} is locked (database lock)."

    return reason_page(
        model_admin, request, protocol, act, wording, form=ProtocolLockForm(request.POST or None)
    )


def unlock_protocol_view(model_admin, request, pk):
    _coordinator(request)
    protocol = get_object_or_404(Protocol, pk=pk)
    wording = Wording("Unlock protocol {subject.slug}", "Its data can change again.", "Unlock")

    def act(data):
        locking.unlock_protocol(protocol, request.user, reason=data["reason"])
        return f"Protocol {protocol.slug} is unlocked."

    return reason_page(model_admin, request, protocol, act, wording)


@admin.action(description="Lock for analysis (those with nothing missing)")
def lock_for_analysis(model_admin, request, queryset):
    """Bulk: locks each selected enrollment that needs no override; says why for the rest."""
    if not request.user.is_coordinator:
        model_admin.message_user(request, "Only coordinators lock data.", messages.ERROR)
        return None
    done, refused = [], []
    for enrollment in queryset.select_related("protocol").order_by("study_id"):
        try:
            locking.lock_enrollment(enrollment, request.user)
        except ValidationError as refusal:
            refused.append(f"{enrollment.study_id}: {refusal.messages[0]}")
        else:
            done.append(enrollment.study_id)
    if done:
        model_admin.message_user(request, f"Locked for analysis: {', '.join(done)}.")
    for line in refused:
        model_admin.message_user(request, line, messages.ERROR)
    return None


class LockedReadOnly:
    """An admin whose rows of locked data are read-only (the change page shows them, with
    the lock, and saves nothing); `enrollment_of(obj)` says whose data a row is."""

    @staticmethod
    def enrollment_of(obj):
        return obj.enrollment

    def has_change_permission(self, request, obj=None):
        if obj is not None and is_locked(self.enrollment_of(obj)):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and is_locked(self.enrollment_of(obj)):
            return False
        return super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            problem = lock_problem(self.enrollment_of(obj))
            if problem and request.method == "GET":
                messages.warning(request, f"Read-only: {problem}.")
        return super().change_view(request, object_id, form_url, extra_context)
