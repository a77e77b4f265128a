"""Diary entries entered, corrected or voided by staff."""

from __future__ import annotations

from django.contrib import admin

from diary import access
from diary.admin.base import (
    ReasonAdmin,
)
from diary.admin.forms import (
    ITEM_FIELDS,
    StaffEntryForm,
)
from diary.admin.locks import LockedReadOnly
from diary.entries.models import DiaryEntry, EntrySource


@admin.register(DiaryEntry)
class DiaryEntryAdmin(LockedReadOnly, ReasonAdmin):
    form = StaffEntryForm
    reason_on_add = True
    list_display = ["enrollment", "date", "pain", "source", "late", "voided"]
    list_filter = ["source", "late", "voided", "enrollment__protocol"]
    list_select_related = ["enrollment"]
    search_fields = ["enrollment__study_id"]
    date_hierarchy = "date"
    # Picked by study ID as typed from a paper page ("DEMO-003", "003"): the search is
    # EnrollmentAdmin's, limited to the enrollments the reader may read.
    autocomplete_fields = ["enrollment"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "enrollment":
            # A posted enrollment the reader may not read is refused like one that
            # does not exist.
            kwargs["queryset"] = access.visible_enrollments(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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
        # docs/domain.md: entered or corrected by a coordinator = source "staff".
        if not change or set(form.changed_data) & set(ITEM_FIELDS):
            obj.source = EntrySource.STAFF
        super().save_model(request, obj, form, change)
