"""The admin's shared parts: change forms that ask why, history pages that never
write back, per-reader columns, pages that ask for a reason, and schedule rows that lock
once a protocol has enrollments."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from diary.audit.models import required_reason
from diary.trial import blinding, protocols


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

    def history_view(self, request, object_id, extra_context=None):
        key_or_404(self.model._meta.pk, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # Reading an old version only: a POST would save it over the current data.
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        key_or_404(self.model._meta.pk, object_id)
        key_or_404(self.model.history.model._meta.pk, version_id)
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


def key_or_404(field, value: str):
    """A row id from the URL as `field` (a primary key) reads it; anything it cannot be
    (`abc`, `1.5`) is a 404, as a row that does not exist would be."""
    try:
        return field.to_python(unquote(value))
    except ValidationError:
        raise Http404("No such row.") from None


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
        blinding.require_allocation_access(request.user)
        return view(request, *args, **kwargs)

    return model_admin.admin_site.admin_view(wrapped)


class ActionReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. Recorded with your name and the time in the audit trail.",
        error_messages={"required": "Give a reason; it is kept in the audit trail."},
    )

    def clean_reason(self):
        return required_reason(self.cleaned_data.get("reason"), "this")


@dataclass(frozen=True)
class Wording:
    """What a page that asks for a reason says: its title, what the action does, and
    its button. `{subject}` stands for the object acted on."""

    title: str
    explanation: str
    button: str


def reason_page(model_admin, request, subject, act, wording: Wording, form=None):
    """Ask for the reason (and whatever `form` asks besides), then `act(cleaned data)`,
    which returns the message to show; a refusal is shown on the form. Back on the
    subject's change page afterwards."""
    form = form or ActionReasonForm(request.POST or None)
    opts = model_admin.model._meta
    back = f"admin:{opts.app_label}_{opts.model_name}_change"
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
        "title": wording.title.format(subject=subject),
        "form": form,
        "subject": subject,
        "explanation": wording.explanation.format(subject=subject),
        "button": wording.button,
        "cancel_url": reverse(back, args=[subject.pk]),
        "opts": opts,
    }
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/diary/reason_page.html", context, status=status)


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
        return parent is not None and protocols.protocol_locked(self.protocol_of(parent))

    def has_add_permission(self, request, obj=None):
        return not self._locked(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._locked(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._locked(obj) and super().has_delete_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return True


def warn_if_locked(model_admin, request, protocol) -> None:
    if protocol is not None and protocols.protocol_locked(protocol):
        count = protocol.enrollments.count()
        model_admin.message_user(
            request, LOCKED_MESSAGE.format(slug=protocol.slug, count=count), messages.INFO
        )
