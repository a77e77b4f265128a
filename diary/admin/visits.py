"""Clinic visits entered, corrected or voided by a coordinator. The rules and the
recorded save are diary.visits.rules', as on the care team's pages and in import_visits."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect

from diary import access
from diary.admin.base import ReasonAdmin
from diary.admin.locks import LockedReadOnly
from diary.visits import rules
from diary.visits.forms import VisitForm
from diary.visits.measures import MEASURE_NAMES
from diary.visits.models import Visit, VisitSource

VOIDING_FIELDS = {"voided", "void_reason", "change_reason"}


class VisitAdminForm(VisitForm):
    change_reason = forms.CharField(
        label="Reason for this change",
        max_length=rules.REASON_MAX,
        required=False,
        help_text="Required to correct or void a visit. Kept in the history with your name "
        "and the time.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta(VisitForm.Meta):
        fields = ["enrollment", *rules.EDITABLE_FIELDS, "voided", "void_reason"]

    def clean(self):
        if self.enrollment is None:
            self.enrollment = self.cleaned_data.get("enrollment")
        cleaned = super().clean()
        if self.instance.pk and self.changed_data and not cleaned.get("change_reason", "").strip():
            self.add_error(
                "change_reason", "Say why you change this visit; it is kept in the history."
            )
        void_reason = (cleaned.get("void_reason") or "").strip()
        if cleaned.get("voided") and not void_reason:
            self.add_error("void_reason", "Give the reason for voiding this visit.")
        elif len(void_reason) > rules.REASON_MAX:
            self.add_error(
                "void_reason",
                f"The reason is {len(void_reason)} characters long; keep it to {rules.REASON_MAX}.",
            )
        return cleaned

    def checks_date(self) -> bool:
        # Voiding alone changes no date: a visit that broke a rule since (a withdrawal
        # dated before it) can still be voided.
        return not (self.instance.pk and set(self.changed_data) <= VOIDING_FIELDS)


@admin.register(Visit)
class VisitAdmin(LockedReadOnly, ReasonAdmin):
    form = VisitAdminForm
    list_display = ["enrollment", "visit_date", *MEASURE_NAMES, "source", "voided"]
    list_filter = ["source", "voided", "enrollment__protocol"]
    list_select_related = ["enrollment"]
    search_fields = ["enrollment__study_id"]
    date_hierarchy = "visit_date"
    autocomplete_fields = ["enrollment"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(enrollment__in=access.visible_enrollments(request.user).values("pk"))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "enrollment":
            kwargs["queryset"] = access.visible_enrollments(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["enrollment", "visit_date"]}),
            ("Measures (blank = not done)", {"fields": MEASURE_NAMES}),
            (None, {"fields": ["notes"]}),
        ]
        if obj is None:
            return fieldsets
        return [
            *fieldsets,
            ("Voiding", {"fields": ["voided", "void_reason"]}),
            ("Provenance", {"fields": ["source", "created_at", "updated_at"]}),
            ("Why", {"fields": ["change_reason"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = ["source", "created_at", "updated_at"]
        if obj is not None:
            fields.append("enrollment")
        if obj is not None and getattr(obj, "stored_voided", obj.voided):
            # A voided visit stays as it was; the right one is recorded as a new visit.
            fields += [*rules.EDITABLE_FIELDS, "voided", "void_reason"]
        return fields

    def get_object(self, request, object_id, from_field=None):
        visit = super().get_object(request, object_id, from_field)
        if visit is not None:
            # As stored: the form being checked changes the object's own `voided`.
            visit.stored_voided = visit.voided
        return visit

    def change_view(self, request, object_id, form_url="", extra_context=None):
        visit = self.get_object(request, object_id)
        if visit is not None and request.method == "GET":
            access.record_access(
                request.user,
                f"clinic visit {visit.visit_date:%Y-%m-%d} (admin)",
                study_id=visit.enrollment.study_id,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        reason = (form.cleaned_data.get("change_reason") or "").strip()
        values = {
            name: form.cleaned_data[name]
            for name in rules.EDITABLE_FIELDS
            if name in form.cleaned_data
        }
        try:
            if change and form.cleaned_data.get("voided") and "voided" in form.changed_data:
                original = Visit.objects.get(pk=obj.pk)
                changed = {n: v for n, v in values.items() if getattr(original, n) != v}
                if changed:
                    rules.save_visit(
                        obj.enrollment, changed, by=request.user, reason=reason, visit=original
                    )
                rules.void_visit(original, by=request.user, reason=form.cleaned_data["void_reason"])
            else:
                saved = rules.save_visit(
                    obj.enrollment if change else form.cleaned_data["enrollment"],
                    values,
                    by=request.user,
                    reason=reason or "Recorded by staff",
                    visit=Visit.objects.get(pk=obj.pk) if change else None,
                    source=VisitSource.STAFF,
                )
                obj.pk = saved.pk
        except ValidationError as error:
            # Checked by the form a moment ago; changed since (another save won): the
            # form comes back with what to fix, nothing saved.
            request.visit_refused = error

    def response_add(self, request, obj, post_url_continue=None):
        return self._refused(request) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._refused(request) or super().response_change(request, obj)

    def _refused(self, request):
        error = getattr(request, "visit_refused", None)
        if error is None:
            return None
        self.message_user(request, "Nothing was saved: " + " ".join(error.messages), messages.ERROR)
        return redirect(request.path)

    def log_addition(self, request, obj, message):
        if not getattr(request, "visit_refused", None):
            super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "visit_refused", None):
            super().log_change(request, obj, message)
