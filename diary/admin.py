"""The coordinators' admin: accounts, protocols, enrollment, randomization, blinding,
invitations, data corrections and the audit trail.

Every change form asks why (kept as the history row's reason, with who and when);
nothing clinical can be deleted. The work itself is done by diary.study, so the rules
are the same wherever a change comes from. What a page shows of arms and phases comes
from diary.blinding for the signed-in reader: a coordinator without allocation access
is blinded here as a physician is on her pages.
"""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.admin import SimpleHistoryAdmin

from diary import access, accounts, audit, blinding, imports, signin, study, twofactor
from diary.exports import csv_lines
from diary.models import (
    DIARY_ITEMS,
    Arm,
    AuditEvent,
    Blinding,
    DataAccess,
    DiaryEntry,
    Enrollment,
    EnrollmentStatus,
    EntrySource,
    Phase,
    Protocol,
    Role,
    User,
    load_protocols,
)
from diary.overview import current_span
from diary.phases import PhaseKind

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


class HistoryAdmin(SimpleHistoryAdmin):
    """Old versions can be read, never saved back over current data, and their values
    are shown as the reader may see them."""

    def concealed_fields(self, request, obj) -> set[str]:
        """Fields whose values this reader may not see in `obj`'s history."""
        return set()

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # Reading an old version only: a POST would save it over the current data.
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        return super().history_form_view(request, object_id, version_id, extra_context)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        previous = None
        for current in historical_records:
            if previous is not None:
                hidden = self.concealed_fields(request, previous.instance)
                delta = previous.diff_against(
                    current, foreign_keys_are_objs=foreign_keys_are_objs, excluded_fields=hidden
                )
                helper = self.get_historical_record_context_helper(request, previous)
                previous.history_delta_changes = helper.context_for_delta_changes(delta)
            previous = current


class ReasonAdmin(HistoryAdmin):
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


def reader_displays(request, key: str, build) -> SimpleNamespace:
    """Columns and read-only fields that depend on who reads (built once per request, so
    the fieldsets and the read-only fields name the same objects)."""
    cache = request.__dict__.setdefault("_diary_displays", {})
    if key not in cache:
        cache[key] = build(request.user)
    return cache[key]


def allocation_view(model_admin, view):
    """An admin view only for staff with allocation access (refused with 403)."""

    def wrapped(request, *args, **kwargs):
        access.require_allocation_access(request.user)
        return view(request, *args, **kwargs)

    return model_admin.admin_site.admin_view(wrapped)


def reason_page(model_admin, request, subject, *, form, act, title, explanation, button, back):
    """Ask for the reason (and whatever `form` asks besides), then `act(cleaned data)`,
    which returns the message to show; a refusal is shown on the form."""
    if request.method == "POST" and form.is_valid():
        try:
            done = act(form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            model_admin.message_user(request, done)
            return redirect(back, subject.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "subject": subject,
        "explanation": explanation,
        "button": button,
        "cancel_url": reverse(back, args=[subject.pk]),
        "opts": model_admin.model._meta,
    }
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/diary/reason_page.html", context, status=status)


class ActionReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. Recorded with your name and the time in the audit trail.",
        error_messages={"required": "Give a reason; it is kept in the audit trail."},
    )

    def clean_reason(self):
        return study.required_reason(self.cleaned_data.get("reason"), "this")


class TellPatientForm(ActionReasonForm):
    confirm_mid_treatment = forms.BooleanField(
        required=False,
        label="I confirm that this ends her blinding in the middle of her treatment",
    )

    def __init__(self, *args, mid_treatment: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not mid_treatment:
            del self.fields["confirm_mid_treatment"]


# Users ----------------------------------------------------------------------------


@admin.action(description="Send a link to choose a password (invitation or reset)")
def send_password_links(modeladmin, request, queryset):
    sent = 0
    for user in queryset:
        try:
            study.send_password_link(user, by=request.user)
            sent += 1
        except ValidationError as error:
            modeladmin.message_user(request, " ".join(error.messages), messages.ERROR)
    if sent:
        modeladmin.message_user(request, f"A link to choose a password went to {sent} account(s).")


class AccountForm(forms.ModelForm):
    """An account's details and rights. A change of rights needs a reason."""

    change_reason = forms.CharField(
        label="Reason for this change",
        max_length=100,
        required=False,
        help_text="Required when the e-mail, role, staff, superuser, active or allocation "
        "access changes. Kept in the audit trail with your name and the time.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = User
        fields = [
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "language",
            "is_active",
            "is_staff",
            "is_superuser",
            "allocation_access",
            "groups",
            "user_permissions",
        ]

    def clean(self):
        cleaned = super().clean()
        values = {
            name: cleaned.get(name, getattr(self.instance, name)) for name in accounts.RIGHTS_FIELDS
        }
        for name, problem in accounts.rights_problems(values).items():
            self.add_error(name if name in self.fields else None, problem)
        changed = set(self.changed_data) & set(accounts.AUDITED_FIELDS)
        if self.instance.pk and changed and not (cleaned.get("change_reason") or "").strip():
            self.add_error(
                "change_reason",
                f"Say why {', '.join(sorted(changed))} change(s); it is kept in the audit trail.",
            )
        return cleaned


class AccountAddForm(AccountForm):
    """A new account has no password: she chooses one through the invitation link."""

    send_invitation = forms.BooleanField(
        required=False,
        initial=True,
        label="E-mail an invitation to choose a password",
    )

    class Meta(AccountForm.Meta):
        fields = ["username", "first_name", "last_name", "email", "role", "language"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role") != Role.PATIENT and not (cleaned.get("change_reason") or "").strip():
            self.add_error(
                "change_reason",
                "Say why this staff or physician account is created; it is kept in the audit "
                "trail.",
            )
        return cleaned


@admin.register(User)
class UserAdmin(BaseUserAdmin, HistoryAdmin):
    form = AccountForm
    add_form = AccountAddForm
    add_form_template = None
    list_display = [
        "username",
        "email",
        "role",
        "is_active",
        "is_staff",
        "allocation_access",
        "has_password",
        "second_factor",
        "sign_in_locked",
        "last_login",
    ]
    list_filter = ["role", "is_active", "is_staff", "allocation_access"]
    change_form_template = "admin/diary/user/change_form.html"
    search_fields = ["username", "email", "first_name", "last_name"]
    readonly_fields = ["password_state", "sign_in_locked_at", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["username", "password_state", "sign_in_locked_at"]}),
        ("Personal info", {"fields": ["first_name", "last_name", "email", "language"]}),
        (
            "Role and rights",
            {
                "fields": [
                    "role",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "allocation_access",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
        ("Why", {"fields": ["change_reason"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["username", "email", "first_name", "last_name", "role", "language"]}),
        ("Invitation", {"fields": ["send_invitation"]}),
        ("Why", {"fields": ["change_reason"]}),
    ]
    actions = [send_password_links]

    @admin.display(boolean=True, description="Password set")
    def has_password(self, user):
        return user.has_usable_password()

    @admin.display(boolean=True, description="Sign-in locked")
    def sign_in_locked(self, user):
        return user.sign_in_locked_at is not None

    def get_queryset(self, request):
        confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_second_factor=Exists(confirmed))

    @admin.display(boolean=True, description="Second factor")
    def second_factor(self, user):
        return user.has_second_factor

    def get_urls(self):
        return [
            path(
                "<int:pk>/unlock/",
                self.admin_site.admin_view(self.unlock_view),
                name="diary_user_unlock",
            ),
            path(
                "<int:pk>/second-factor/",
                self.admin_site.admin_view(self.remove_second_factor_view),
                name="diary_user_remove_second_factor",
            ),
            *super().get_urls(),
        ]

    def remove_second_factor_view(self, request, pk):
        account = get_object_or_404(User, pk=pk)
        if not self.has_change_permission(request, account) or account.pk == request.user.pk:
            raise PermissionDenied("Nobody removes their own second factor.")

        def act(data):
            if not twofactor.has_second_factor(account):
                raise ValidationError(f"{account.username} has no second factor.")
            twofactor.remove_second_factor(account, by=request.user, reason=data["reason"])
            return f"{account.username} sets up a new second factor at her next sign-in."

        return reason_page(
            self,
            request,
            account,
            form=ActionReasonForm(request.POST or None),
            act=act,
            title=f"Remove the second factor of {account.username}",
            explanation=(
                "For a lost or replaced phone. Her authenticator app and recovery codes "
                "stop working; at her next sign-in (password first) she sets up a new "
                "app. Confirm who she is before you do this."
            ),
            button="Remove the second factor",
            back="admin:diary_user_change",
        )

    def unlock_view(self, request, pk):
        account = get_object_or_404(User, pk=pk)
        if not self.has_change_permission(request, account):
            raise PermissionDenied

        def act(data):
            if account.sign_in_locked_at is None:
                raise ValidationError(f"{account.username} can sign in already.")
            signin.unlock(account, by=request.user, reason=data["reason"])
            return f"{account.username} can sign in again."

        return reason_page(
            self,
            request,
            account,
            form=ActionReasonForm(request.POST or None),
            act=act,
            title=f"Unlock sign-in for {account.username}",
            explanation=(
                "This account was locked after too many wrong passwords. Unlock it once "
                "you know the attempts were hers (e.g. she called you), not someone "
                "guessing. Her password does not change."
            ),
            button="Unlock sign-in",
            back="admin:diary_user_change",
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_unlock": account is not None and account.sign_in_locked_at is not None,
            "can_remove_second_factor": account is not None
            and account.pk != request.user.pk
            and twofactor.has_second_factor(account),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Password")
    def password_state(self, user):
        if user.has_usable_password():
            return "Set by the account holder. Send a reset link to change it."
        return "Not chosen yet: send an invitation."

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *accounts.locked_fields(request.user, obj)]

    def save_model(self, request, obj, form, change):
        reason = (form.cleaned_data.get("change_reason") or "").strip()
        obj._history_user = request.user
        obj._change_reason = reason or ("Changed" if change else "Created")
        before = accounts.rights_of(User.objects.get(pk=obj.pk) if change else None)
        if not change:
            obj.set_unusable_password()  # she chooses it through the invitation link
        obj.save()
        if change or obj.role != Role.PATIENT:
            changes = accounts.rights_changes(before, obj)
            accounts.record_rights_change(obj, changes, by=request.user, reason=reason)
        if not change and form.cleaned_data.get("send_invitation"):
            user = obj
            transaction.on_commit(lambda: self._invite(request, user))

    def _invite(self, request, user):
        try:
            study.send_password_link(user, by=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.WARNING)
        else:
            self.message_user(request, f"An invitation to choose a password went to {user.email}.")

    def user_change_password(self, request, id, form_url=""):
        """Staff never set another person's password: she chooses her own through a
        link, so what is saved under her name was saved by her."""
        user = self.get_object(request, id)
        if user is not None and user.pk == request.user.pk:
            return redirect("password_change")
        raise PermissionDenied(
            "Nobody sets another person's password. Send her a link to choose one "
            "(the action “Send a link to choose a password” on the list of users)."
        )

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


class PhaseFormSet(BaseInlineFormSet):
    """An arm's phases, refused when a blinded reader could tell this arm from the
    protocol's other arms by its schedule."""

    def clean(self):
        super().clean()
        arm = self.instance
        if any(self.errors) or arm is None or arm.protocol_id is None:
            return
        proposed = [
            SimpleNamespace(
                order=form.cleaned_data["order"],
                kind=form.cleaned_data["kind"],
                days=form.cleaned_data["days"],
            )
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("order") is not None
        ]
        others = Arm.objects.filter(protocol_id=arm.protocol_id).exclude(pk=arm.pk)
        phases = {
            other.code: list(other.phases.all()) for other in others.prefetch_related("phases")
        }
        phases[arm.code or "(this arm)"] = proposed
        problem = arm.protocol.blinding_problem(phases)
        if problem:
            raise ValidationError(problem)


class PhaseInline(LockedInline):
    model = Phase
    formset = PhaseFormSet
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
        fields = ["slug", "name", "blinding", "block_size"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and cleaned.get("blinding"):
            candidate = Protocol(pk=self.instance.pk, blinding=cleaned["blinding"])
            problem = candidate.blinding_problem(
                {arm.code: arm.phases.all() for arm in self.instance.arms.all()}
            )
            if problem:
                self.add_error("blinding", problem)
        return cleaned


class RandomizationListForm(forms.Form):
    file = forms.FileField(
        label="Randomization list (CSV)",
        help_text="UTF-8 CSV with a header row: sequence,arm. One row per allocation; blank "
        "arms take the lowest unused sequence number.",
    )
    replace = forms.BooleanField(
        required=False,
        label="Replace the rows uploaded before (only while none of them is used)",
    )


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

    def _allocation(self, request):
        def build(reader):
            @admin.display(description="Randomization seed")
            def seed(protocol):
                return protocol.randomization_seed

            @admin.display(description="Randomization list")
            def randomization_list(protocol):
                slots = protocol.randomization_slots.count()
                if not slots:
                    return "none (blank arms use permuted blocks from the seed)"
                used = protocol.enrollments.filter(randomization_number__isnull=False).count()
                return f"{slots} rows, {used} used"

            return SimpleNamespace(seed=seed, randomization_list=randomization_list)

        return reader_displays(request, "protocol", build)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and blinding.sees_allocation(request.user):
            shown = self._allocation(request)
            fieldsets = [
                *fieldsets[:-1],
                (
                    "Allocation (allocation access only)",
                    {"fields": [shown.seed, shown.randomization_list]},
                ),
                fieldsets[-1],
            ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("slug")
            if study.protocol_locked(obj):
                fields += ["blinding", "block_size"]
            if blinding.sees_allocation(request.user):
                shown = self._allocation(request)
                fields += [shown.seed, shown.randomization_list]
        return fields

    def concealed_fields(self, request, obj) -> set[str]:
        return set() if blinding.sees_allocation(request.user) else {"randomization_seed"}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        protocol = self.get_object(request, object_id)
        warn_if_locked(self, request, protocol)
        allocation = protocol is not None and blinding.sees_allocation(request.user)
        extra_context = {
            **(extra_context or {}),
            "can_unblind": allocation and study.protocol_unblinding_problem(protocol) is None,
            "can_tell_patients": allocation and protocol.blinding != Blinding.OPEN,
            "can_upload_list": allocation,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/copy/", wrap(self.copy_view), name="diary_protocol_copy"),
            path(
                "<int:pk>/unblind/",
                allocation_view(self, self.unblind_view),
                name="diary_protocol_unblind",
            ),
            path(
                "<int:pk>/tell-patients/",
                allocation_view(self, self.tell_patients_view),
                name="diary_protocol_tell_patients",
            ),
            path(
                "<int:pk>/randomization-list/",
                allocation_view(self, self.randomization_list_view),
                name="diary_protocol_randomization_list",
            ),
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
                "secret randomization seed. Change what you need, then enroll into it.",
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

        def act(data):
            study.unblind_protocol(protocol, by=request.user, reason=data["reason"])
            return (
                f"{protocol.slug} is unblinded: physicians, coordinators and files now see "
                "arms, treatment phases and the LDN-versus-placebo comparison. Patients "
                "are not told by it."
            )

        return reason_page(
            self,
            request,
            protocol,
            form=ActionReasonForm(request.POST or None),
            act=act,
            title=f"Unblind protocol {protocol.slug}",
            explanation=(
                "End of study or analysis: physicians, coordinators and blinded files see "
                "each patient's arm and treatment phases and the LDN-versus-placebo "
                "comparison. Patients are not told (use “Tell the patients whose treatment "
                "has ended”). It cannot be undone."
            ),
            button="Unblind the protocol",
            back="admin:diary_protocol_change",
        )

    def tell_patients_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)

        def act(data):
            told = study.tell_patients_whose_treatment_ended(
                protocol, by=request.user, reason=data["reason"]
            )
            if not told:
                return "No patient of this protocol has ended her treatment without being told."
            return f"{len(told)} patient(s) now see their arm: {', '.join(told)}."

        return reason_page(
            self,
            request,
            protocol,
            form=ActionReasonForm(request.POST or None),
            act=act,
            title=f"Tell the patients of {protocol.slug} whose treatment has ended",
            explanation=(
                "Every patient of this protocol whose treatment window is over (in her own "
                "time zone) or who withdrew, and who was not told yet, sees her arm and the "
                "names of her phases in her diary. Her physician is not unblinded by this. "
                "It cannot be undone."
            ),
            button="Tell them",
            back="admin:diary_protocol_change",
        )

    def randomization_list_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)
        form = RandomizationListForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            with tempfile.NamedTemporaryFile(suffix=".csv") as copy:
                for chunk in upload.chunks():
                    copy.write(chunk)
                copy.flush()
                try:
                    outcome = imports.import_randomization_list(
                        copy.name,
                        protocol,
                        by=request.user,
                        replace=form.cleaned_data["replace"],
                        file_name=upload.name,
                    )
                except imports.ImportFailed as failed:
                    problems = failed.problems
                else:
                    self.message_user(
                        request,
                        f"{outcome.created} row(s) added to the randomization list of "
                        f"{protocol.slug} ({outcome.unchanged} already there).",
                    )
                    return redirect("admin:diary_protocol_change", protocol.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Randomization list of {protocol.slug}",
            "protocol": protocol,
            "form": form,
            "problems": problems,
            "slots": protocol.randomization_slots.select_related("arm"),
            "used": set(
                protocol.enrollments.filter(randomization_number__isnull=False).values_list(
                    "randomization_number", flat=True
                )
            ),
            "opts": self.model._meta,
        }
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(
            request, "admin/diary/protocol/randomization_list.html", context, status=status
        )


# Enrollments ------------------------------------------------------------------------


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


# What a URL may not filter or sort the enrollments by without allocation access.
ALLOCATION_FIELDS = {"arm", "randomization_number"}

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
            problem = study.patient_account_problem(email, protocol)
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
    actions = [resend_invitations]
    change_form_template = "admin/diary/enrollment/change_form.html"
    list_per_page = 100

    def get_queryset(self, request):
        # Every protocol's arms and phases in two queries, for the "current phase" column.
        return super().get_queryset(request).prefetch_related("protocol__arms__phases")

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

    def lookup_allowed(self, lookup, value, request=None):
        # Django allows a filter on any field from the URL (?arm=3, ?arm__code=A):
        # allocation fields only for allocation access.
        field = lookup.split("__", 1)[0]
        if field in ALLOCATION_FIELDS and not blinding.sees_allocation(request.user):
            return False
        return super().lookup_allowed(lookup, value, request)

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
            (
                "Blinding",
                {
                    "fields": [
                        "care_team_unblinded_at",
                        "care_team_unblinded_by",
                        "care_team_unblinding_reason",
                        "patient_unblinded_at",
                        "patient_unblinded_by",
                        "patient_unblinding_reason",
                    ]
                },
            ),
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
            "care_team_unblinded_at",
            "care_team_unblinded_by",
            "care_team_unblinding_reason",
            "patient_unblinded_at",
            "patient_unblinded_by",
            "patient_unblinding_reason",
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
            and study.care_team_unblinding_problem(enrollment) is None,
            "can_tell_patient": allocation and study.telling_problem(enrollment) is None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

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
            study.unblind_care_team(enrollment, by=request.user, reason=data["reason"])
            return (
                f"The care team of {enrollment.study_id} now sees her arm and treatment "
                "phases; she stays blinded."
            )

        return reason_page(
            self,
            request,
            enrollment,
            form=ActionReasonForm(request.POST or None),
            act=act,
            title=f"Unblind the care team for {enrollment.study_id}",
            explanation=(
                "For this one patient (e.g. an emergency), her physician and the "
                "coordinators will see her arm and treatment phases. She herself stays "
                "blinded, and so does the rest of the protocol. It cannot be undone."
            ),
            button="Unblind her care team",
            back="admin:diary_enrollment_change",
        )

    def tell_patient_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        mid_treatment = not study.patient_may_be_told(enrollment)
        form = TellPatientForm(request.POST or None, mid_treatment=mid_treatment)
        explanation = (
            "She will see her arm and the names of her phases (LDN, placebo) in her diary. "
            "Her care team is not unblinded by this. It cannot be undone."
        )
        if mid_treatment:
            end = enrollment.schedule.treatment_end
            explanation += (
                f" Her treatment window lasts until {end:%Y-%m-%d}: telling her now ends her "
                "blinding mid-treatment, which needs your explicit confirmation."
            )

        def act(data):
            study.tell_patient(
                enrollment,
                by=request.user,
                reason=data["reason"],
                mid_treatment_confirmed=data.get("confirm_mid_treatment", False),
            )
            return f"{enrollment.study_id} now sees her arm and the names of her phases."

        return reason_page(
            self,
            request,
            enrollment,
            form=form,
            act=act,
            title=f"Tell {enrollment.study_id} her arm",
            explanation=explanation,
            button="Tell the patient",
            back="admin:diary_enrollment_change",
        )

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
            "rows": audit.trail(enrollment, request.user),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/diary/enrollment/audit.html", context)

    def audit_csv_view(self, request, pk):
        enrollment = self._enrollment(request, pk)
        access.record_access(request.user, "audit trail CSV", study_id=enrollment.study_id)
        rows = [
            audit.TRAIL_COLUMNS,
            *(row.as_list() for row in audit.trail(enrollment, request.user)),
        ]
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
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
        if not cleaned.get("voided"):
            # Un-voiding: the old reason goes (the history keeps it); the form's own
            # "Reason for this change" says why the entry counts again.
            cleaned["void_reason"] = ""
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = self.get_object(request, object_id)
        if entry is not None and request.method == "GET":
            access.record_access(
                request.user,
                f"diary entry {entry.date:%Y-%m-%d} (admin)",
                study_id=entry.enrollment.study_id,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # DOMAIN.md: entered or corrected by a coordinator = source "staff".
        if not change or set(form.changed_data) & set(ITEM_FIELDS):
            obj.source = EntrySource.STAFF
        super().save_model(request, obj, form, change)


# Audit events ---------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The study's audit trail of events that are not a row's change: unblinding,
    randomization lists, unblinded files, account rights and invitations. Read only."""

    list_display = ["at", "action", "who", "protocol", "enrollment", "account", "reason"]
    list_filter = ["action", "protocol"]
    list_select_related = ["actor", "protocol", "enrollment", "user"]
    search_fields = [
        "enrollment__study_id",
        "reason",
        "actor__username",
        "actor_name",
        "user__username",
    ]
    date_hierarchy = "at"
    fields = ["at", "who", "action", "protocol", "enrollment", "account", "reason", "what"]

    @admin.display(description="Who")
    def who(self, event):
        return event.who

    @admin.display(description="Account")
    def account(self, event):
        return event.user.username if event.user_id else ""

    def get_readonly_fields(self, request, obj=None):
        reader = request.user

        @admin.display(description="Details")
        def what(event):
            return audit.details_text(event, reader)

        return [*self.fields[:-1], what]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DataAccess)
class DataAccessAdmin(admin.ModelAdmin):
    """The access log: who opened which patient's data, when. Read only."""

    list_display = ["at", "who", "what", "study_id", "scope"]
    list_filter = ["what"]
    list_select_related = ["actor"]
    search_fields = ["study_id", "actor__username", "actor_name", "what"]
    date_hierarchy = "at"

    @admin.display(description="Who")
    def who(self, access_record):
        return access_record.who

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
