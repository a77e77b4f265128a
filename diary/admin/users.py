"""Accounts: rights changed with a reason, password links instead of passwords,
unlocking a sign-in and removing a lost second factor. None of them for an account that
sees more than the reader does (diary.people.accounts.account_change_problem): its page is
read only for her, and the actions and pages refuse it and say why."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django_otp.plugins.otp_totp.models import TOTPDevice

from diary.admin.base import HistoryAdmin, Wording, reason_page
from diary.admin.forms import AccountAddForm, AccountForm
from diary.people import accounts, signin, twofactor
from diary.people.models import Role, User
from diary.trial import invitations


@admin.action(description="Send a link to choose a password (invitation or reset)")
def send_password_links(modeladmin, request, queryset):
    sent = 0
    for user in queryset:
        try:
            invitations.send_password_link(user, by=request.user)
            sent += 1
        except accounts.AccountOutOfReach as refused:
            modeladmin.message_user(request, f"No link sent: {refused}", messages.ERROR)
        except ValidationError as error:
            modeladmin.message_user(request, " ".join(error.messages), messages.ERROR)
    if sent:
        modeladmin.message_user(request, f"A link to choose a password went to {sent} account(s).")


REMOVE_SECOND_FACTOR = Wording(
    title="Remove the second factor of {subject.username}",
    explanation=(
        "For a lost or replaced phone. Her authenticator app and recovery codes stop "
        "working; at her next sign-in (password first) she sets up a new app. Confirm who "
        "she is before you do this."
    ),
    button="Remove the second factor",
)
UNLOCK = Wording(
    title="Unlock sign-in for {subject.username}",
    explanation=(
        "This account was locked after too many wrong passwords. Unlock it once you know "
        "the attempts were hers (e.g. she called you), not someone guessing. Her password "
        "does not change."
    ),
    button="Unlock sign-in",
)


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
            {"fields": accounts.RIGHTS_FORM_FIELDS},
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

    def has_change_permission(self, request, obj=None):
        """Not an account that sees more than the reader: she may view its page."""
        if obj is not None and not (
            accounts.may_change(request.user, obj) or accounts.rights_only(request.user, obj)
        ):
            return False
        return super().has_change_permission(request, obj)

    def _account_for_action(self, request, pk, *, own_allowed: bool):
        account = get_object_or_404(User, pk=pk)
        accounts.require_may_change(request.user, account)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        if not own_allowed and account.pk == request.user.pk:
            raise PermissionDenied("Nobody does this to her own account.")
        return account

    def remove_second_factor_view(self, request, pk):
        account = self._account_for_action(request, pk, own_allowed=False)

        def act(data):
            if not twofactor.has_second_factor(account):
                raise ValidationError(f"{account.username} has no second factor.")
            twofactor.remove_second_factor(account, by=request.user, reason=data["reason"])
            return f"{account.username} sets up a new second factor at her next sign-in."

        return reason_page(self, request, account, act, REMOVE_SECOND_FACTOR)

    def unlock_view(self, request, pk):
        account = self._account_for_action(request, pk, own_allowed=True)

        def act(data):
            if account.sign_in_locked_at is None:
                raise ValidationError(f"{account.username} can sign in already.")
            signin.unlock(account, by=request.user, reason=data["reason"])
            return f"{account.username} can sign in again."

        return reason_page(self, request, account, act, UNLOCK)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        refusal = account and accounts.account_change_problem(request.user, account)
        may = account is not None and not refusal
        extra_context = {
            **(extra_context or {}),
            "change_refusal": refusal,
            "rights_only": account is not None and accounts.rights_only(request.user, account),
            "can_unlock": may and account.sign_in_locked_at is not None,
            "can_remove_second_factor": may
            and account.pk != request.user.pk
            and twofactor.has_second_factor(account),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Password")
    def password_state(self, user):
        if user.has_usable_password():
            return "Set by the account holder. Send a reset link to change it."
        return "Not chosen yet: send an invitation."

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [(name, options) for name, options in fieldsets if name != "Why"]
        return fieldsets

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
            invitations.send_password_link(user, by=request.user)
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
