"""The coordinators' admin: protocols, enrollment, randomization, blinding, invitations,
data corrections and the audit trail.

Every change form asks why (kept as the history row's reason, with who and when);
nothing clinical can be deleted. The work itself is done by diary.study, so the rules
are the same wherever a change comes from.
"""

from __future__ import annotations

import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from diary import audit, study
from diary.models import (
    DIARY_ITEMS,
    Arm,
    AuditEvent,
    Blinding,
    DiaryEntry,
    Enrollment,
    EnrollmentStatus,
    EntrySource,
    Phase,
    Protocol,
    Role,
    User,
)
from diary.phases import PhaseKind


class Echo:
    """A file-like object whose write returns the line, for streaming CSV."""

    def write(self, value):
        return value


# Reasons ---------------------------------------------------------------------------


class ReasonForm(forms.ModelForm):
    """A change form that asks why: the answer is the history row's reason."""

    change_reason = forms.CharField(
        label="Reason for this change",
        max_length=100,
        help_text="Required. Kept in the audit trail with your name and the time.",
        widget=forms.TextInput(attrs={"size": 60}),
        error_messages={"required": "Say why you make this change; it is kept in the audit trail."},
    )


class ReasonAdmin(SimpleHistoryAdmin):
    """Asks for a reason on every change, records it with who and when; no deleting."""

    reason_on_add = False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and not self.reason_on_add:
            form.base_fields.pop("change_reason", None)
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None and not self.reason_on_add:
            return fieldsets
        names = {name for _, options in fieldsets for name in options["fields"]}
        if "change_reason" in names:
            return fieldsets
        return [*fieldsets, ("Why", {"fields": ["change_reason"]})]

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data.get("change_reason")
        obj._change_reason = reason or ("Changed" if change else "Created")
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        """Inline rows (an arm's phases, a protocol's arms) share the form's reason."""
        reason = form.cleaned_data.get("change_reason") or ("Changed" if change else "Created")
        for obj in formset.save(commit=False):
            obj._change_reason = reason
            obj.save()
        for obj in formset.deleted_objects:
            obj._change_reason = reason
            obj.delete()
        formset.save_m2m()

    def has_delete_permission(self, request, obj=None):
        return False  # clinical records are corrected, never deleted


# Users ----------------------------------------------------------------------------


@admin.action(description="Send an invitation e-mail (choose a password)")
def send_invitations(modeladmin, request, queryset):
    sent = 0
    for user in queryset:
        try:
            study.send_invitation(user, by=request.user)
            sent += 1
        except ValidationError as error:
            modeladmin.message_user(request, " ".join(error.messages), messages.ERROR)
    if sent:
        modeladmin.message_user(request, f"Invitation sent to {sent} account(s).")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "role", "is_active", "has_password", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name"]
    fieldsets = [*BaseUserAdmin.fieldsets, ("Study role", {"fields": ["role", "language"]})]
    add_fieldsets = [*BaseUserAdmin.add_fieldsets, ("Study role", {"fields": ["role", "email"]})]
    actions = [send_invitations]

    @admin.display(boolean=True, description="Password set")
    def has_password(self, user):
        return user.has_usable_password()

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: enrollments and the trail refer to accounts


# Protocols, arms, phases ----------------------------------------------------------


LOCKED_MESSAGE = (
    "{slug} has {count} enrollment(s), so its arms and phases can no longer change: "
    "they define what the collected data mean. Use “Copy to a new version” to change "
    "the schedule for new enrollments."
)


class LockedInline(admin.TabularInline):
    """Rows of a protocol's schedule: read only once the protocol has enrollments."""

    @staticmethod
    def protocol_of(parent):
        raise NotImplementedError

    def _locked(self, parent):
        return parent is not None and study.protocol_locked(self.protocol_of(parent))

    def has_add_permission(self, request, obj=None):
        return not self._locked(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._locked(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._locked(obj) and super().has_delete_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return True


def warn_if_locked(model_admin, request, protocol) -> None:
    if protocol is not None and study.protocol_locked(protocol):
        count = protocol.enrollments.count()
        model_admin.message_user(
            request, LOCKED_MESSAGE.format(slug=protocol.slug, count=count), messages.INFO
        )


class PhaseInline(LockedInline):
    model = Phase
    extra = 0
    ordering = ["order"]
    fields = ["order", "kind", "days", "dose_mg"]

    @staticmethod
    def protocol_of(arm):
        return arm.protocol


class ArmForm(ReasonForm):
    class Meta:
        model = Arm
        fields = ["protocol", "code", "name"]


@admin.register(Arm)
class ArmAdmin(ReasonAdmin):
    form = ArmForm
    list_display = ["protocol", "code", "name", "schedule"]
    list_select_related = ["protocol"]
    list_filter = ["protocol"]
    inlines = [PhaseInline]
    reason_on_add = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phases")

    @admin.display(description="Phases")
    def schedule(self, arm):
        return schedule_text(arm)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and study.protocol_locked(obj.protocol):
            return ["protocol", "code"]
        return ["protocol"] if obj is not None else []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        arm = self.get_object(request, object_id)
        warn_if_locked(self, request, arm.protocol if arm else None)
        return super().change_view(request, object_id, form_url, extra_context)


def schedule_text(arm) -> str:
    parts = []
    for phase in arm.phases.all():
        dose = f" ({phase.dose_mg.normalize()} mg)" if phase.dose_mg is not None else ""
        parts.append(f"{PhaseKind(phase.kind).label} {phase.days} d{dose}")
    return " → ".join(parts) or "no phases yet"


class ArmInline(LockedInline):
    model = Arm
    extra = 0
    fields = ["code", "name", "schedule"]
    readonly_fields = ["schedule"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phases")  # one query

    @admin.display(description="Phases (open the arm to edit them)")
    def schedule(self, arm):
        return schedule_text(arm) if arm.pk else "save first, then add its phases"

    @staticmethod
    def protocol_of(protocol):
        return protocol


class ProtocolForm(ReasonForm):
    class Meta:
        model = Protocol
        fields = ["slug", "name", "blinding", "block_size", "randomization_seed"]


class UnblindForm(forms.Form):
    reason = forms.CharField(
        label="Reason for unblinding",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. Recorded with your name and the time in the audit trail.",
        error_messages={"required": "Give a reason for unblinding; it is kept in the audit trail."},
    )

    def clean_reason(self):
        return study.required_reason(self.cleaned_data.get("reason"), "unblinding")


def unblind_page(model_admin, request, subject, *, unblind, title, explanation, done, back):
    """Ask for the reason, then unblind `subject` (a protocol or an enrollment)."""
    form = UnblindForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            unblind(subject, by=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            model_admin.message_user(request, done())
            return redirect(back, subject.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "subject": subject,
        "explanation": explanation,
        "cancel_url": reverse(back, args=[subject.pk]),
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/diary/unblind.html", context)


@admin.register(Protocol)
class ProtocolAdmin(ReasonAdmin):
    form = ProtocolForm
    list_display = ["slug", "name", "blinding", "block_size", "enrolled", "unblinded_at"]
    list_filter = ["blinding"]
    search_fields = ["slug", "name"]
    inlines = [ArmInline]
    change_form_template = "admin/diary/protocol/change_form.html"
    readonly_fields = ["unblinded_at", "unblinded_by", "unblinding_reason"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(enrolled_count=Count("enrollments"))

    @admin.display(description="Enrollments", ordering="enrolled_count")
    def enrolled(self, protocol):
        return protocol.enrolled_count

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("slug")
            if study.protocol_locked(obj):
                fields += ["blinding", "block_size", "randomization_seed"]
        return fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        protocol = self.get_object(request, object_id)
        warn_if_locked(self, request, protocol)
        extra_context = {
            **(extra_context or {}),
            "can_unblind": protocol is not None
            and protocol.blinding != Blinding.OPEN
            and not protocol.unblinded_at,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/copy/", wrap(self.copy_view), name="diary_protocol_copy"),
            path("<int:pk>/unblind/", wrap(self.unblind_view), name="diary_protocol_unblind"),
            *super().get_urls(),
        ]

    def copy_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)
        if not self.has_add_permission(request):
            raise Http404
        if request.method == "POST":
            copy = study.copy_protocol(protocol, by=request.user)
            self.message_user(
                request,
                f"{copy.slug} is a copy of {protocol.slug} with its arms and phases and a new "
                "randomization seed. Change what you need, then enroll into it.",
            )
            return redirect("admin:diary_protocol_change", copy.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Copy {protocol.slug} to a new version",
            "protocol": protocol,
            "new_slug": study.next_version_slug(protocol.slug),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/diary/protocol/copy.html", context)

    def unblind_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)
        if not self.has_change_permission(request, protocol):
            raise Http404
        return unblind_page(
            self,
            request,
            protocol,
            unblind=study.unblind_protocol,
            title=f"Unblind protocol {protocol.slug}",
            explanation=(
                "Unblinding the whole protocol ends the blind for everyone: physicians "
                "see each patient's arm and treatment phases and the LDN-versus-placebo "
                "comparison. It cannot be undone."
            ),
            done=lambda: (
                f"{protocol.slug} is unblinded: physicians now see arms, treatment "
                "phases and the LDN-versus-placebo comparison."
            ),
            back="admin:diary_protocol_change",
        )


# Enrollments ------------------------------------------------------------------------


class ArmFilter(admin.SimpleListFilter):
    """Arms only of protocols whose blind is lifted (open label or unblinded), so a
    list filtered by arm never reveals a still-blinded allocation at a glance."""

    title = "arm (unblinded protocols)"
    parameter_name = "arm"

    def lookups(self, request, model_admin):
        arms = Arm.objects.select_related("protocol").exclude(
            protocol__blinding=Blinding.DOUBLE, protocol__unblinded_at=None
        )
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
    ("finished", "Schedule over"),
]


def current_phase_key(enrollment, today=None) -> str:
    today = today or enrollment.local_today()
    if today < enrollment.start_date:
        return "not-started"
    span = enrollment.schedule.span_on(today)
    return span.kind if span else "finished"


class CurrentPhaseFilter(admin.SimpleListFilter):
    """Where each enrollment's schedule is today, in the patient's own time zone."""

    title = "current phase"
    parameter_name = "phase"

    def lookups(self, request, model_admin):
        return CURRENT_PHASE_CHOICES

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        candidates = queryset.model.objects.filter(pk__in=queryset.values("pk"))
        ids = [
            enrollment.pk
            for enrollment in candidates.load_with_schedules()
            if current_phase_key(enrollment) == self.value()
        ]
        return queryset.filter(pk__in=ids)


class EnrollmentAddForm(forms.ModelForm):
    email = forms.EmailField(
        label="Patient's e-mail",
        help_text="The invitation goes here. It lives on her account only, never on the "
        "enrollment; an existing patient account with this address is reused.",
    )
    first_name = forms.CharField(required=False, label="Patient's first name")
    last_name = forms.CharField(required=False, label="Patient's last name")
    language = forms.ChoiceField(
        label="Patient's language",
        choices=settings.LANGUAGES,
        initial=settings.LANGUAGE_CODE,
        required=False,
        help_text="Of her invitation and reminder e-mails; she can switch her pages herself.",
    )

    class Meta:
        model = Enrollment
        fields = [
            "study_id",
            "physician",
            "protocol",
            "arm",
            "start_date",
            "timezone",
            "reminder_time",
            "status",
        ]
        help_texts = {
            "study_id": "Pseudonymous and unique, e.g. FM-013. No names or initials.",
            "arm": "Leave blank to randomize (required on blinded protocols). "
            "Pick an arm only on an open-label protocol.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].required = False
        self.fields["status"].choices = [
            (value, label)
            for value, label in EnrollmentStatus.choices
            if value in (EnrollmentStatus.SCREENING, EnrollmentStatus.ACTIVE)
        ]
        self.fields["physician"].queryset = User.objects.filter(role=Role.PHYSICIAN, is_active=True)

    def clean(self):
        cleaned = super().clean()
        protocol, arm = cleaned.get("protocol"), cleaned.get("arm")
        if protocol is not None:
            problem = study.arm_pick_problem(protocol, arm)
            if problem:
                self.add_error("arm", problem)
            problem = study.schedule_problem(protocol, arm)
            if problem:
                self.add_error("protocol", problem)
        email = cleaned.get("email")
        if email:
            problem = study.patient_account_problem(email)
            if problem:
                self.add_error("email", problem)
        return cleaned


class EnrollmentChangeForm(ReasonForm):
    class Meta:
        model = Enrollment
        fields = [
            "physician",
            "status",
            "withdrawn_on",
            "withdrawal_reason",
            "timezone",
            "reminder_time",
            "reminders_paused_until",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "physician" in self.fields:
            self.fields["physician"].queryset = User.objects.filter(role=Role.PHYSICIAN)

    def clean(self):
        cleaned = super().clean()
        old, new = self.initial.get("status"), cleaned.get("status")
        if old and new:
            problem = study.status_change_problem(old, new)
            if problem:
                self.add_error("status", problem)
        if new == EnrollmentStatus.WITHDRAWN:
            withdrawn_on = cleaned.get("withdrawn_on")
            if not withdrawn_on:
                self.add_error("withdrawn_on", "Give the date of the withdrawal.")
            elif withdrawn_on < self.instance.start_date:
                self.add_error(
                    "withdrawn_on",
                    f"The withdrawal cannot be before the start ({self.instance.start_date}).",
                )
            elif withdrawn_on > self.instance.local_today():
                self.add_error("withdrawn_on", "The withdrawal date cannot be in the future.")
            if not (cleaned.get("withdrawal_reason") or "").strip():
                self.add_error("withdrawal_reason", "Give the reason for the withdrawal.")
        elif cleaned.get("withdrawn_on") and new is not None:
            self.add_error("withdrawn_on", "Only a withdrawn enrollment has a withdrawal date.")
        return cleaned


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
            study.send_invitation(enrollment.patient, by=request.user, enrollment=enrollment)
            sent += 1
        except ValidationError as error:
            modeladmin.message_user(
                request, f"{enrollment.study_id}: {' '.join(error.messages)}", messages.ERROR
            )
    if sent:
        modeladmin.message_user(request, f"Invitation sent for {sent} enrollment(s).")


@admin.register(Enrollment)
class EnrollmentAdmin(ReasonAdmin):
    list_display = [
        "study_id",
        "protocol",
        "arm_shown",
        "physician",
        "status",
        "current_phase",
        "start_date",
        "unblinded",
    ]
    list_filter = [
        "protocol",
        ArmFilter,
        ("physician", admin.RelatedOnlyFieldListFilter),
        "status",
        CurrentPhaseFilter,
    ]
    list_select_related = ["protocol", "arm", "physician"]
    search_fields = ["study_id", "patient__email", "patient__username"]
    actions = [resend_invitations]
    change_form_template = "admin/diary/enrollment/change_form.html"
    list_per_page = 100

    def get_queryset(self, request):
        # The phases of every arm in one query, for the "current phase" column.
        return super().get_queryset(request).prefetch_related("arm__phases")

    @admin.display(description="Arm", ordering="arm__code")
    def arm_shown(self, enrollment):
        protocol = enrollment.protocol
        if protocol.blinding == Blinding.DOUBLE and not enrollment.is_unblinded:
            return "blinded"
        return enrollment.arm.code

    @admin.display(description="Current phase")
    def current_phase(self, enrollment):
        return dict(CURRENT_PHASE_CHOICES)[current_phase_key(enrollment)]

    @admin.display(boolean=True, description="Unblinded")
    def unblinded(self, enrollment):
        return enrollment.is_unblinded

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
                        "arm_allocation",
                        "start_date",
                        "timezone",
                    ]
                },
            ),
            ("Status", {"fields": ["status", "withdrawn_on", "withdrawal_reason"]}),
            ("Reminders", {"fields": ["reminder_time", "reminders_paused_until"]}),
            ("Blinding", {"fields": ["unblinded_at", "unblinded_by", "unblinding_reason"]}),
            ("Why", {"fields": ["change_reason"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "study_id",
            "patient_account",
            "protocol",
            "arm_allocation",
            "start_date",
            "unblinded_at",
            "unblinded_by",
            "unblinding_reason",
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

    @admin.display(description="Arm")
    def arm_allocation(self, enrollment):
        how = (
            f"randomized, slot {enrollment.randomization_number + 1} of the sequence"
            if enrollment.randomization_number is not None
            else "picked by hand (open label)"
        )
        return f"{enrollment.arm.code} ({how})"

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        study.enroll(
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
        self.message_user(request, f"{obj.study_id} was allocated to arm {obj.arm.code}.")
        return super().response_add(request, obj, post_url_continue)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        enrollment = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_unblind": enrollment is not None
            and enrollment.protocol.blinding != Blinding.OPEN
            and not enrollment.is_unblinded,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/unblind/", wrap(self.unblind_view), name="diary_enrollment_unblind"),
            path("<int:pk>/invite/", wrap(self.invite_view), name="diary_enrollment_invite"),
            path("<int:pk>/audit/", wrap(self.audit_view), name="diary_enrollment_audit"),
            path(
                "<int:pk>/audit.csv", wrap(self.audit_csv_view), name="diary_enrollment_audit_csv"
            ),
            *super().get_urls(),
        ]

    def _enrollment(self, request, pk):
        enrollment = get_object_or_404(Enrollment.objects.select_related("protocol"), pk=pk)
        if not self.has_view_permission(request, enrollment):
            raise Http404
        return enrollment

    def unblind_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        return unblind_page(
            self,
            request,
            enrollment,
            unblind=study.unblind_enrollment,
            title=f"Unblind {enrollment.study_id}",
            explanation=(
                "Emergency unblinding of this one patient: her physician will see her arm "
                "and treatment phases. The rest of the protocol stays blinded. It cannot "
                "be undone."
            ),
            done=lambda: (
                f"{enrollment.study_id} is unblinded (arm {enrollment.arm.code}); "
                "her physician now sees her arm and treatment phases."
            ),
            back="admin:diary_enrollment_change",
        )

    def invite_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        if request.method != "POST":
            return redirect("admin:diary_enrollment_change", enrollment.pk)
        resend_invitations(self, request, Enrollment.objects.filter(pk=enrollment.pk))
        return redirect("admin:diary_enrollment_change", enrollment.pk)

    def audit_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Audit trail of {enrollment.study_id}",
            "enrollment": enrollment,
            "time_zone": settings.TIME_ZONE,
            "rows": audit.trail(enrollment),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/diary/enrollment/audit.html", context)

    def audit_csv_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        writer = csv.writer(Echo())
        rows = [audit.TRAIL_COLUMNS, *(row.as_list() for row in audit.trail(enrollment))]
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localdate().isoformat()
        response["Content-Disposition"] = (
            f'attachment; filename="audit-{enrollment.study_id}-{stamp}.csv"'
        )
        return response


# Diary entries ----------------------------------------------------------------------


ITEM_FIELDS = DIARY_ITEMS


class StaffEntryForm(ReasonForm):
    """A coordinator enters or corrects a day (e.g. from a paper back-up), or voids it."""

    class Meta:
        model = DiaryEntry
        fields = ["enrollment", "date", *ITEM_FIELDS, "voided", "void_reason"]
        help_texts = {
            "date": "The diary day in the patient's time zone. Past days of her schedule "
            "only; the patient's entry window does not apply.",
        }

    def clean(self):
        cleaned = super().clean()
        enrollment = cleaned.get("enrollment") or getattr(self.instance, "enrollment", None)
        day = cleaned.get("date") or self.instance.date
        if enrollment is not None and day is not None:
            values = {name: cleaned.get(name) for name in ("dose_taken", "tolerability")}
            for problem in enrollment.staff_entry_problems(day, values, enrollment.local_today()):
                self.add_error(None, problem)
            if (
                self.instance.pk is None
                and DiaryEntry.objects.filter(enrollment=enrollment, date=day).exists()
            ):
                self.add_error(
                    "date",
                    f"{enrollment.study_id} already has an entry for {day}; open it to correct it.",
                )
        if cleaned.get("voided") and not (cleaned.get("void_reason") or "").strip():
            self.add_error("void_reason", "Say why the entry is voided.")
        return cleaned

    def validate_unique(self):
        pass  # checked in clean() with a message that says what to do


@admin.register(DiaryEntry)
class DiaryEntryAdmin(ReasonAdmin):
    form = StaffEntryForm
    reason_on_add = True
    list_display = ["enrollment", "date", "pain", "source", "late", "voided"]
    list_filter = ["source", "late", "voided", "enrollment__protocol"]
    list_select_related = ["enrollment"]
    search_fields = ["enrollment__study_id"]
    date_hierarchy = "date"
    raw_id_fields = ["enrollment"]

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["enrollment", "date"]}),
            ("Diary items", {"fields": ITEM_FIELDS}),
            ("Voiding", {"fields": ["voided", "void_reason"]}),
            ("Provenance", {"fields": ["source", "late", "created_at", "updated_at"]}),
            ("Why", {"fields": ["change_reason"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = ["source", "late", "created_at", "updated_at"]
        if obj is not None:
            fields += ["enrollment", "date"]
        return fields

    def save_model(self, request, obj, form, change):
        # DOMAIN.md: entered or corrected by a coordinator = source "staff".
        if not change or set(form.changed_data) & set(ITEM_FIELDS):
            obj.source = EntrySource.STAFF
        super().save_model(request, obj, form, change)


# Audit events ---------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Unblinding, unblinded exports and invitations: read only."""

    list_display = ["at", "action", "who", "protocol", "enrollment", "reason"]
    list_filter = ["action", "protocol"]
    list_select_related = ["actor", "protocol", "enrollment"]
    search_fields = ["enrollment__study_id", "reason", "actor__username", "actor_name"]
    date_hierarchy = "at"

    @admin.display(description="Who")
    def who(self, event):
        return event.who

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
