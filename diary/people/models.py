"""Everyone who signs in: patients, physicians, coordinators."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from simple_history.models import HistoricalRecords


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    PHYSICIAN = "physician", "Physician"
    COORDINATOR = "coordinator", "Coordinator"


class User(AbstractUser):
    """Everyone who signs in. A patient's name and e-mail live only here, never on
    the pseudonymous enrollment."""

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PATIENT)
    # The language of her pages and e-mails (reminders are sent outside any request):
    # the one she last chose, or the one her browser asked for when she signed in.
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, blank=True)
    allocation_access = models.BooleanField(
        default=False,
        help_text="Sees arms, seeds and randomization lists, unblinds, and downloads "
        "unblinded files (the unblinded statistician or pharmacist). Staff accounts only; "
        "granted and revoked by a superuser.",
    )

    # Locked by too many failed sign-ins from anywhere (diary.people.signin) until a coordinator
    # unlocks it; failures are counted from her last sign-in or unlock.
    sign_in_locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    sign_in_unlocked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()
    # Who changed an account's role or rights, when and why. The password hash is not
    # copied into the history; a sign-in (last_login) writes no history row.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    def save(self, *args, **kwargs):
        # Coordinators work in the Django admin.
        if self.role == Role.COORDINATOR:
            self.is_staff = True
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and set(update_fields) <= {"last_login", "password"}:
            self.skip_history_when_saving = True
        try:
            super().save(*args, **kwargs)
        finally:
            self.__dict__.pop("skip_history_when_saving", None)

    # Coordinators manage everything of the study app in the admin without having to be
    # given permissions one by one.
    COORDINATOR_APPS = frozenset({"diary"})

    def has_perm(self, perm, obj=None) -> bool:
        if self.is_coordinator and perm.split(".", 1)[0] in self.COORDINATOR_APPS:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label) -> bool:
        if self.is_coordinator and app_label in self.COORDINATOR_APPS:
            return True
        return super().has_module_perms(app_label)

    @property
    def is_coordinator(self) -> bool:
        return self.is_active and (self.role == Role.COORDINATOR or self.is_superuser)

    @property
    def is_physician(self) -> bool:
        return self.is_active and self.role == Role.PHYSICIAN

    @property
    def is_patient(self) -> bool:
        return self.is_active and self.role == Role.PATIENT

    @property
    def has_allocation_access(self) -> bool:
        """The unblinded statistician or pharmacist (see diary.trial.blinding)."""
        return self.is_active and self.is_staff and self.allocation_access
