"""Admin for coordinators. The full study-management workflow (randomization,
unblinding, voiding, invitations) is built on top of this."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from diary.models import Arm, DiaryEntry, Enrollment, Phase, Protocol, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    fieldsets = [*BaseUserAdmin.fieldsets, ("Study role", {"fields": ["role"]})]
    add_fieldsets = [*BaseUserAdmin.add_fieldsets, ("Study role", {"fields": ["role", "email"]})]


class PhaseInline(admin.TabularInline):
    model = Phase
    extra = 0
    ordering = ["order"]


@admin.register(Arm)
class ArmAdmin(SimpleHistoryAdmin):
    list_display = ["protocol", "code", "name"]
    list_select_related = ["protocol"]
    inlines = [PhaseInline]


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0
    show_change_link = True


@admin.register(Protocol)
class ProtocolAdmin(SimpleHistoryAdmin):
    list_display = ["slug", "name", "blinding", "block_size", "unblinded_at"]
    inlines = [ArmInline]


@admin.register(Enrollment)
class EnrollmentAdmin(SimpleHistoryAdmin):
    list_display = ["study_id", "protocol", "physician", "start_date", "status", "timezone"]
    list_filter = ["protocol", "status", "physician"]
    list_select_related = ["protocol", "physician"]
    search_fields = ["study_id", "patient__email", "patient__username"]
    raw_id_fields = ["patient", "physician"]
    readonly_fields = ["unblinded_at", "unblinded_by", "unblinding_reason", "created_at"]


@admin.register(DiaryEntry)
class DiaryEntryAdmin(SimpleHistoryAdmin):
    list_display = ["enrollment", "date", "pain", "source", "late", "voided"]
    list_filter = ["source", "late", "voided", "enrollment__protocol"]
    list_select_related = ["enrollment"]
    search_fields = ["enrollment__study_id"]
    date_hierarchy = "date"
    readonly_fields = ["created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        # Diary entries are never deleted; they can be voided with a reason.
        return False
