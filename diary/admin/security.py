"""Second factors and sign-in lockouts in the admin: listed, never shown or changed.

django-otp registers admins that show every authenticator key and its QR code, add a
confirmed device for anyone and delete devices and recovery codes; django-axes
registers admins that delete the records of failed sign-ins. None of that is audited,
so all of them are replaced here by pages that only list:

- a second factor (an authenticator app, recovery codes) shows its owner, its name,
  whether it is confirmed, and when it was created and last used; never its key, QR
  code or codes. Its owner sets it up herself (/accounts/two-factor/setup/); a lost
  one is removed with a reason, audited, by "Remove second factor" on the account's
  page (diary.admin.users), never here.
- sign-in attempts, failures and sign-ins are read only. A locked account is unlocked
  with a reason, audited, by "Unlock sign-in" on the account's page.

The libraries' admin modules are imported first, whatever the order in which admin
modules are loaded, so that their registrations are there to be replaced.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.contrib import admin

from diary.admin.trail import RecordAdmin

# The apps whose admin modules are replaced here, by app label.
REPLACED_APPS = {"axes", "otp_totp", "otp_static", "otp_hotp", "otp_email", "otp_yubikey"}


def _their_admins_loaded() -> None:
    for config in apps.get_app_configs():
        if config.label in REPLACED_APPS or config.name == "django_otp":
            try:
                import_module(f"{config.name}.admin")
            except ModuleNotFoundError as missing:
                if missing.name != f"{config.name}.admin":
                    raise


_their_admins_loaded()
REPLACED = [
    model
    for model in list(admin.site._registry)
    if model._meta.app_label in REPLACED_APPS or model._meta.app_label.startswith("otp_")
]
for model in REPLACED:
    admin.site.unregister(model)


class SecondFactorAdmin(RecordAdmin):
    """A second factor: whose, which, confirmed, when. Never its key or codes."""

    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields
    list_display = fields
    list_filter = ["confirmed"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    actions = None


def lockout_admin(theirs: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """django-axes' admin of a sign-in record, read only and without its actions (its
    "Clean up expired attempts" deletes records)."""
    return type(
        theirs.__name__,
        (RecordAdmin, theirs),
        {"__module__": __name__, "actions": None, "__doc__": "Read only."},
    )


def _replacement(model) -> type[admin.ModelAdmin] | None:
    if model._meta.app_label == "axes":
        from axes import admin as axes_admin

        theirs = getattr(axes_admin, f"{model.__name__}Admin", admin.ModelAdmin)
        return lockout_admin(theirs)
    names = {field.name for field in model._meta.get_fields()}
    if {"user", "name", "confirmed", "created_at", "last_used_at"} <= names:
        return SecondFactorAdmin
    return None  # anything else they registered (e.g. a device's tokens) stays out


for model in REPLACED:
    replacement = _replacement(model)
    if replacement is not None:
        admin.site.register(model, replacement)
