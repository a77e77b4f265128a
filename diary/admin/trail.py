"""The study's records of events and of reading: audit events and the access log."""

from __future__ import annotations

from django.contrib import admin

from diary.audit.models import AuditEvent, DataAccess
from diary.entries import history


class RecordAdmin(admin.ModelAdmin):
    """A record of what happened: read, never added, changed or deleted by hand."""

    @admin.display(description="Who")
    def who(self, record):
        return record.who

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(RecordAdmin):
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

    @admin.display(description="Account")
    def account(self, event):
        return event.user.username if event.user_id else ""

    def get_readonly_fields(self, request, obj=None):
        reader = request.user

        @admin.display(description="Details")
        def what(event):
            return history.details_text(event, reader)

        return [*self.fields[:-1], what]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)


@admin.register(DataAccess)
class DataAccessAdmin(RecordAdmin):
    """The access log: who opened which patient's data, when. Read only."""

    list_display = ["at", "who", "what", "study_id", "scope"]
    list_filter = ["what"]
    list_select_related = ["actor"]
    search_fields = ["study_id", "actor__username", "actor_name", "what"]
    date_hierarchy = "at"
