"""The admin's forms: accounts, protocols and their phases, enrollment, staff entries,
and the reason asked before an unblinding or an unlock."""

from __future__ import annotations

from types import SimpleNamespace

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from diary.admin.base import (
    ActionReasonForm,
    ReasonForm,
)
from diary.entries import items, window
from diary.entries.forms import DigitsIntegerField, YesNoField
from diary.entries.models import DIARY_ITEMS, DiaryEntry
from diary.files.imports import LIST_ROWS_MAX
from diary.people import accounts
from diary.people.models import Role, User
from diary.security import megabytes
from diary.trial import enrolment
from diary.trial.dates import FIRST_DATE, START_DAYS_AHEAD
from diary.trial.models import Arm, Enrollment, EnrollmentStatus, Protocol
from diary.visits import rules as visit_rules


class TellPatientForm(ActionReasonForm):
    confirm_mid_treatment = forms.BooleanField(
        required=False,
        label="I confirm that this ends her blinding in the middle of her treatment",
    )

    def __init__(self, *args, mid_treatment: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not mid_treatment:
            del self.fields["confirm_mid_treatment"]


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
            "language",
            *accounts.RIGHTS_FORM_FIELDS,
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


class ArmForm(ReasonForm):
    class Meta:
        model = Arm
        fields = ["protocol", "code", "name"]


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
        f"arms take the lowest unused sequence number. At most "
        f"{megabytes(settings.UPLOAD_LIMIT_BYTES)} and {LIST_ROWS_MAX:,} rows.",
    )
    replace = forms.BooleanField(
        required=False,
        label="Replace the rows uploaded before (only while none of them is used)",
    )

    def clean_file(self):
        """Refused by its size before a line of it is read."""
        upload = self.cleaned_data["file"]
        limit = settings.UPLOAD_LIMIT_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"The file is {megabytes(upload.size)}; a randomization list may be at most "
                f"{megabytes(limit)}. Check that this is the right file."
            )
        return upload


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
            "start_date": f"Day 1 of her schedule: on or after {FIRST_DATE.isoformat()} and "
            f"at most {START_DAYS_AHEAD} days after today.",
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
            problem = enrolment.arm_pick_problem(protocol, arm)
            if problem:
                self.add_error("arm", problem)
            problem = enrolment.enrolment_problem(protocol, arm)
            if problem:
                self.add_error(
                    "protocol", enrolment.enrolment_problem_message(problem, protocol, arm)
                )
        email = cleaned.get("email")
        if email:
            problem = enrolment.patient_account_problem(email, protocol)
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
        if "timezone" in self.fields:
            self.fields["timezone"].help_text = (
                "IANA name, e.g. America/Los_Angeles. A change counts from her next diary "
                "day (today keeps its zone), as when she changes it in her settings "
                '(docs/domain.md, "Time zone changes").'
            )

    def clean(self):
        cleaned = super().clean()
        old, new = self.initial.get("status"), cleaned.get("status")
        if old and new:
            problem = enrolment.status_change_problem(old, new)
            if problem:
                self.add_error("status", problem)
        if new is None:
            return cleaned
        # (changed_data is no guide: the field's callable default adds a hidden initial.)
        zone = cleaned.get("timezone")
        if (
            zone
            and zone != self.instance.timezone
            and (
                self.instance.has_ended
                or new in (EnrollmentStatus.COMPLETED, EnrollmentStatus.WITHDRAWN)
            )
        ):
            self.add_error(
                "timezone",
                "The study has ended (or ends with this change) for her: her diary is "
                "closed, and its days keep their time zone.",
            )
        start = self.instance.start_date
        messages = {
            enrolment.WithdrawalProblem.DATE_MISSING: "Give the date of the withdrawal.",
            enrolment.WithdrawalProblem.DATE_WITHOUT_WITHDRAWAL: (
                "Only a withdrawn enrollment has a withdrawal date."
            ),
            enrolment.WithdrawalProblem.BEFORE_START: (
                f"The withdrawal cannot be before the start ({start})."
            ),
            enrolment.WithdrawalProblem.IN_FUTURE: "The withdrawal date cannot be in the future.",
        }
        problems = enrolment.withdrawal_problems(
            new, cleaned.get("withdrawn_on"), start, self.instance.local_today()
        )
        for problem in problems[:1]:  # one message at a time, the first that applies
            self.add_error("withdrawn_on", messages[problem])
        withdrawn_on = cleaned.get("withdrawn_on")
        if not problems and new == EnrollmentStatus.WITHDRAWN and withdrawn_on:
            problem = visit_rules.withdrawal_problem(self.instance, withdrawn_on)
            if problem:
                self.add_error("withdrawn_on", problem)
        if (
            new == EnrollmentStatus.WITHDRAWN
            and not (cleaned.get("withdrawal_reason") or "").strip()
        ):
            self.add_error("withdrawal_reason", "Give the reason for the withdrawal.")
        return cleaned


ITEM_FIELDS = DIARY_ITEMS
SCORE_RANGES = {"pain": 10, "fatigue": 10, "sleep_quality": 10, "tolerability": 100}
YES_NO_ITEMS = [name for name in ITEM_FIELDS if items.kind(name) == items.YES_NO]
NOT_ANSWERED = "Not answered"


class PaperAnswerField(YesNoField):
    """A yes/no item as a paper page has it: yes, no, or not answered (None). An item
    asked every diary day (items.always_asked) is refused when not answered."""

    def __init__(self, name: str):
        label = DiaryEntry._meta.get_field(name).verbose_name.capitalize()
        super().__init__(
            label=label,
            required=items.always_asked(name),
            required_message=f"{label} is asked every diary day: choose Yes or No. It "
            "cannot be saved as not answered.",
        )
        self.choices = [*self.choices, ("", NOT_ANSWERED)]

    def prepare_value(self, value):
        # The stored True/False/None shown as its choice.
        return {True: "yes", False: "no", None: ""}.get(value, value)

    def has_changed(self, initial, data):
        return super().has_changed(self.prepare_value(initial), data)


class StaffEntryForm(ReasonForm):
    """A coordinator enters or corrects a day (e.g. from a paper back-up), or voids it."""

    class Meta:
        model = DiaryEntry
        fields = ["enrollment", "date", *ITEM_FIELDS, "voided", "void_reason"]
        # Scores are written with the digits 0-9 only (int() takes other scripts' too).
        field_classes = dict.fromkeys(SCORE_RANGES, DigitsIntegerField)
        error_messages = {
            name: {
                "invalid": f"{name.replace('_', ' ').capitalize()} must be a whole number "
                f"from 0 to {high}, written with the digits 0-9."
            }
            for name, high in SCORE_RANGES.items()
        }
        help_texts = {
            "date": "The diary day in the patient's time zone. Past days of her schedule "
            "only; the patient's entry window does not apply.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in YES_NO_ITEMS:  # not a checkbox: a blank on paper is not a "no"
            if name in self.fields:
                self.fields[name] = PaperAnswerField(name)

    def clean(self):
        cleaned = super().clean()
        enrollment = cleaned.get("enrollment") or getattr(self.instance, "enrollment", None)
        day = cleaned.get("date") or self.instance.date
        if enrollment is not None and day is not None:
            values = {name: cleaned.get(name) for name in ("dose_taken", "tolerability")}
            for problem in window.staff_problems(enrollment, day, values, enrollment.local_today()):
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
