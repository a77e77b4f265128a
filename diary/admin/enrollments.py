"""Enrollments: enrolling with randomization and invitation, status, blinding as the
reader may see it, unblinding, and the audit trail."""

from __future__ import annotations

from types import SimpleNamespace

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from diary import access
from diary.admin.base import ReasonAdmin, Wording, allocation_view, reader_displays, reason_page
from diary.admin.filters import (
    CURRENT_PHASE_CHOICES,
    ArmFilter,
    CurrentPhaseFilter,
    current_phase_key,
)
from diary.admin.forms import EnrollmentAddForm, EnrollmentChangeForm, TellPatientForm
from diary.admin.locks import (
    LockedReadOnly,
    lock_enrollment_view,
    lock_for_analysis,
    unlock_enrollment_view,
)
from diary.entries import history
from diary.files.exports import csv_lines
from diary.people import accounts
from diary.trial import blinding, dates, enrolment, invitations, travel, unblinding
from diary.trial.models import Enrollment
from diary.views.downloads import download_response


@admin.action(description="Resend the invitation e-mail")
def resend_invitations(modeladmin, request, queryset):
    sent = 0
    for enrollment in queryset.select_related("patient", "protocol"):
        if enrollment.patient.has_usable_password():
            modeladmin.message_user(
                request,
                f"{enrollment.study_id}: the patient has already chosen a password; "
                "she can use “Forgot your password?” on the sign-in page.",
                messages.WARNING,
            )
            continue
        try:
            invitations.send_invitation(enrollment.patient, by=request.user, enrollment=enrollment)
            sent += 1
        except ValidationError as error:
            modeladmin.message_user(
                request, f"{enrollment.study_id}: {' '.join(error.messages)}", messages.ERROR
            )
        except accounts.AccountOutOfReach as refused:
            modeladmin.message_user(request, f"{enrollment.study_id}: {refused}", messages.ERROR)
    if sent:
        modeladmin.message_user(request, f"Invitation sent for {sent} enrollment(s).")


# Who unblinded whom, when and why: shown, never edited (the actions set them).
UNBLINDING_FIELDS = [
    f"{who}_{what}"
    for who in ("care_team", "patient")
    for what in ("unblinded_at", "unblinded_by", "unblinding_reason")
]

UNBLIND_CARE_TEAM = Wording(
    title="Unblind the care team for {subject.study_id}",
    explanation=(
        "For this one patient (e.g. an emergency), her physician and the coordinators will "
        "see her arm and treatment phases. She herself stays blinded, and so does the rest "
        "of the protocol. It cannot be undone."
    ),
    button="Unblind her care team",
)
TELL_PATIENT = Wording(
    title="Tell {subject.study_id} her arm",
    explanation=(
        "She will see her arm and the names of her phases (LDN, placebo) in her diary. Her "
        "care team is not unblinded by this. It cannot be undone."
    ),
    button="Tell the patient",
)


@admin.register(Enrollment)
class EnrollmentAdmin(LockedReadOnly, ReasonAdmin):
    # What each reader sees of arms and phases: get_list_display / get_fieldsets.
    list_display = ["study_id", "protocol", "physician", "status", "start_date"]
    list_filter = [
        "protocol",
        ("physician", admin.RelatedOnlyFieldListFilter),
        "status",
        CurrentPhaseFilter,
    ]
    list_select_related = ["protocol", "arm", "physician"]
    search_fields = ["study_id", "patient__email", "patient__username"]
    actions = [resend_invitations, lock_for_analysis]
    change_form_template = "admin/diary/enrollment/change_form.html"
    list_per_page = 100

    def get_queryset(self, request):
        # Every protocol's arms and phases in two queries, for the "current phase" column.
        return super().get_queryset(request).prefetch_related("protocol__arms__phases")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if getattr(request.resolver_match, "view_name", None) == "admin:autocomplete":
            # A picker (a staff entry's enrollment) offers only the enrollments this
            # reader may read, each by its study ID (Enrollment.__str__), never its arm.
            visible = access.visible_enrollments(request.user)
            queryset = queryset.filter(pk__in=visible.values("pk"))
        return queryset, may_have_duplicates

    def _shown(self, request) -> SimpleNamespace:
        def build(reader):
            sees_allocation = blinding.sees_allocation(reader)

            @admin.display(description="Arm", ordering="arm__code" if sees_allocation else None)
            def arm(enrollment):
                return blinding.arm_for(enrollment, reader) or "Blinded"

            @admin.display(description="Current phase")
            def current_phase(enrollment):
                return dict(CURRENT_PHASE_CHOICES)[current_phase_key(enrollment, reader)]

            @admin.display(description="Arm")
            def arm_allocation(enrollment):
                code = blinding.arm_for(enrollment, reader)
                if code is None:
                    return "Blinded (concealed allocation)"
                number = enrollment.randomization_number
                if number is None:
                    return f"{code} (assigned directly, not randomized)"
                if enrollment.protocol.randomization_slots.filter(sequence=number).exists():
                    return f"{code} (randomization list, sequence {number})"
                return f"{code} (permuted blocks from the protocol's seed, sequence {number})"

            return SimpleNamespace(
                arm=arm, current_phase=current_phase, arm_allocation=arm_allocation
            )

        return reader_displays(request, "enrollment", build)

    @admin.display(description="Care team sees arm", boolean=True)
    def care_team_unblinded(self, enrollment):
        return blinding.care_team_sees_arm(enrollment)

    def get_list_display(self, request):
        shown = self._shown(request)
        return [
            "study_id",
            "protocol",
            shown.arm,
            "physician",
            "status",
            shown.current_phase,
            "start_date",
            "care_team_unblinded",
        ]

    def get_list_filter(self, request):
        filters = list(self.list_filter)
        if blinding.sees_allocation(request.user):
            filters.insert(1, ArmFilter)
        return filters

    def concealed_fields(self, request, obj) -> set[str]:
        if blinding.arm_for(obj, request.user) is None:
            return {"arm", "randomization_number"}
        return set()

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = EnrollmentAddForm if obj is None else EnrollmentChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    "Patient",
                    {"fields": ["study_id", "email", "first_name", "last_name", "language"]},
                ),
                (
                    "Enrollment",
                    {"fields": [f for f in EnrollmentAddForm.Meta.fields if f != "study_id"]},
                ),
            ]
        return [
            (
                "Enrollment",
                {
                    "fields": [
                        "study_id",
                        "patient_account",
                        "physician",
                        "protocol",
                        self._shown(request).arm_allocation,
                        "start_date",
                        "timezone",
                    ]
                },
            ),
            ("Status", {"fields": ["status", "withdrawn_on", "withdrawal_reason"]}),
            ("Reminders", {"fields": ["reminder_time", "reminders_paused_until"]}),
            ("Blinding", {"fields": UNBLINDING_FIELDS}),
            ("Why", {"fields": ["change_reason"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "study_id",
            "patient_account",
            "protocol",
            self._shown(request).arm_allocation,
            "start_date",
            *UNBLINDING_FIELDS,
        ]

    @admin.display(description="Patient account")
    def patient_account(self, enrollment):
        patient = enrollment.patient
        state = "password set" if patient.has_usable_password() else "invited, no password yet"
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse("admin:diary_user_change", args=[patient.pk]),
            patient.email or patient.username,
            state,
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as error:
            # Refused after the form was checked (e.g. the randomization list was used
            # up by an enrollment saved a moment earlier): nothing was saved.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return redirect("admin:diary_enrollment_add")

    def save_model(self, request, obj, form, change):
        if change:
            old_zone = form.initial["timezone"]
            if obj.timezone == old_zone:
                return super().save_model(request, obj, form, change)
            # A new time zone counts from her next diary day, by the patient's own
            # rule (diary.trial.travel); the other changes are saved first.
            zone, obj.timezone = obj.timezone, old_zone
            if set(form.changed_data) - {"timezone", "change_reason"}:
                super().save_model(request, obj, form, change)
            rule = travel.change_zone(
                obj, zone, by=request.user, reason=form.cleaned_data.get("change_reason") or ""
            )
            self.message_user(
                request,
                f"{obj.study_id}'s diary follows {zone} from her day {rule.starts_day} on "
                f"(from {rule.starts_at:%Y-%m-%d %H:%M} UTC); earlier days keep their zone.",
            )
            return None
        enrolment.enroll(
            obj,
            email=form.cleaned_data["email"],
            first_name=form.cleaned_data.get("first_name", ""),
            last_name=form.cleaned_data.get("last_name", ""),
            language=form.cleaned_data.get("language", ""),
            by=request.user,
        )

    def response_add(self, request, obj, post_url_continue=None):
        if not obj.patient.has_usable_password():
            self.message_user(
                request,
                f"An invitation to choose a password was e-mailed to {obj.patient.email}.",
            )
        code = blinding.arm_for(obj, request.user)
        if code is not None and obj.randomization_number is not None:
            self.message_user(
                request,
                f"{obj.study_id} was allocated to arm {code} "
                f"(sequence {obj.randomization_number}).",
            )
        elif code is None:
            self.message_user(request, f"{obj.study_id} is enrolled; her arm is concealed.")
        return super().response_add(request, obj, post_url_continue)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        enrollment = self.get_object(request, object_id)
        if enrollment is not None and request.method == "GET":
            access.record_access(request.user, "enrollment (admin)", study_id=enrollment.study_id)
        allocation = enrollment is not None and blinding.sees_allocation(request.user)
        extra_context = {
            **(extra_context or {}),
            "can_unblind_care_team": allocation
            and unblinding.care_team_unblinding_problem(enrollment) is None,
            "can_tell_patient": allocation and unblinding.telling_problem(enrollment) is None,
            "can_lock": request.user.is_coordinator,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def enrollment_of(obj):
        return obj

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/unblind/",
                allocation_view(self, self.unblind_care_team_view),
                name="diary_enrollment_unblind",
            ),
            path(
                "<int:pk>/tell-patient/",
                allocation_view(self, self.tell_patient_view),
                name="diary_enrollment_tell_patient",
            ),
            path("<int:pk>/invite/", wrap(self.invite_view), name="diary_enrollment_invite"),
            path(
                "<int:pk>/lock/",
                wrap(lambda request, pk: lock_enrollment_view(self, request, pk)),
                name="diary_enrollment_lock",
            ),
            path(
                "<int:pk>/unlock/",
                wrap(lambda request, pk: unlock_enrollment_view(self, request, pk)),
                name="diary_enrollment_unlock",
            ),
            path("<int:pk>/audit/", wrap(self.audit_view), name="diary_enrollment_audit"),
            path(
                "<int:pk>/audit.csv", wrap(self.audit_csv_view), name="diary_enrollment_audit_csv"
            ),
            path(
                "study/<str:study_id>/",
                wrap(self.by_study_id_view),
                name="diary_enrollment_by_study_id",
            ),
            *super().get_urls(),
        ]

    def _enrollment(self, request, pk):
        enrollment = get_object_or_404(Enrollment.objects.with_schedule(), pk=pk)
        if not self.has_view_permission(request, enrollment):
            raise Http404
        return enrollment

    def by_study_id_view(self, request, study_id):
        """The change page by study ID (links from the physician pages carry no row id)."""
        enrollment = get_object_or_404(Enrollment, study_id=study_id)
        if not self.has_view_permission(request, enrollment):
            raise Http404
        return redirect("admin:diary_enrollment_change", enrollment.pk)

    def unblind_care_team_view(self, request, pk):
        enrollment = self._enrollment(request, pk)

        def act(data):
            unblinding.unblind_care_team(enrollment, by=request.user, reason=data["reason"])
            return (
                f"The care team of {enrollment.study_id} now sees her arm and treatment "
                "phases; she stays blinded."
            )

        return reason_page(self, request, enrollment, act, UNBLIND_CARE_TEAM)

    def tell_patient_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        mid_treatment = not unblinding.patient_may_be_told(enrollment)
        form = TellPatientForm(request.POST or None, mid_treatment=mid_treatment)
        explanation = TELL_PATIENT.explanation
        if mid_treatment:
            end = enrollment.schedule.treatment_end
            explanation += (
                f" Her treatment window lasts until {end:%Y-%m-%d}: telling her now ends her "
                "blinding mid-treatment, which needs your explicit confirmation."
            )

        def act(data):
            unblinding.tell_patient(
                enrollment,
                by=request.user,
                reason=data["reason"],
                mid_treatment_confirmed=data.get("confirm_mid_treatment", False),
            )
            return f"{enrollment.study_id} now sees her arm and the names of her phases."

        wording = Wording(TELL_PATIENT.title, explanation, TELL_PATIENT.button)
        return reason_page(self, request, enrollment, act, wording, form=form)

    def invite_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        if request.method != "POST":
            return redirect("admin:diary_enrollment_change", enrollment.pk)
        resend_invitations(self, request, Enrollment.objects.filter(pk=enrollment.pk))
        return redirect("admin:diary_enrollment_change", enrollment.pk)

    def history_view(self, request, object_id, extra_context=None):
        enrollment = self.get_object(request, object_id)
        if enrollment is not None:
            access.record_access(request.user, "enrollment history", study_id=enrollment.study_id)
        return super().history_view(request, object_id, extra_context)

    def audit_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        access.record_access(request.user, "audit trail", study_id=enrollment.study_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Audit trail of {enrollment.study_id}",
            "enrollment": enrollment,
            "time_zone": settings.TIME_ZONE,
            "rows": history.trail(enrollment, request.user),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/diary/enrollment/audit.html", context)

    def audit_csv_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        access.record_access(request.user, "audit trail CSV", study_id=enrollment.study_id)
        rows = [
            history.TRAIL_COLUMNS,
            *(row.as_list() for row in history.trail(enrollment, request.user)),
        ]
        stamp = dates.study_today().isoformat()
        name = f"audit-{enrollment.study_id}-{stamp}.csv"
        return download_response(csv_lines(rows), name, "text/csv; charset=utf-8")
