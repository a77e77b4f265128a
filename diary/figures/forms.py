"""The forms of the physicians' and coordinators' pages: which patients a list or the
cohort shows, as of when, in what order, and the note that acknowledges an alert."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from diary.figures import summaries
from diary.people.models import Role, User
from diary.trial.models import EnrollmentStatus, Protocol


class AsOfField(forms.DateField):
    """The day summaries are taken as of: YYYY-MM-DD, today or earlier; blank = today."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            input_formats=["%Y-%m-%d"],
            widget=forms.DateInput(attrs={"type": "date"}),
            error_messages={"invalid": "Enter the as-of date as YYYY-MM-DD."},
            help_text="Blank = today (the study's time zone).",
            **kwargs,
        )

    def validate(self, value):
        super().validate(value)
        problem = value and summaries.as_of_problem(value)
        if problem:
            raise forms.ValidationError(problem)


class ProtocolChoiceField(forms.ModelChoiceField):
    """A protocol picked by its slug (the address keeps it) and shown by its name, as
    every page shows a protocol to people (a protocol's name is the same for all its
    arms, so it tells no arm)."""

    def label_from_instance(self, obj):
        return obj.name


class ClinicianFilterForm(forms.Form):
    """Which enrollments a physician page shows: by protocol and, for coordinators, by
    physician (physicians only ever see their own patients)."""

    protocol = ProtocolChoiceField(
        queryset=Protocol.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="All protocols",
        error_messages={"invalid_choice": "There is no such protocol; pick one from the list."},
    )
    physician = forms.ModelChoiceField(
        queryset=User.objects.filter(role=Role.PHYSICIAN).order_by("username"),
        to_field_name="username",
        required=False,
        empty_label="All physicians",
        error_messages={"invalid_choice": "There is no such physician; pick one from the list."},
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_coordinator:
            del self.fields["physician"]
        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.form_class = "row row-cols-md-auto g-2 align-items-end mb-3"
        self.helper.add_input(Submit("", "Show", css_class="btn-secondary"))

    def filter(self, enrollments):
        """`enrollments` narrowed to what the (valid) form asks for."""
        if self.cleaned_data.get("protocol"):
            enrollments = enrollments.filter(protocol=self.cleaned_data["protocol"])
        if self.cleaned_data.get("physician"):
            enrollments = enrollments.filter(physician=self.cleaned_data["physician"])
        return enrollments


class CohortFilterForm(ClinicianFilterForm):
    """Which enrollments the cohort page summarizes, and as of when."""

    as_of = AsOfField(label="As of")


SORT_CHOICES = [
    ("study_id", "Study ID"),
    ("-study_id", "Study ID, Z to A"),
    ("compliance", "Compliance, lowest first"),
    ("-compliance", "Compliance, highest first"),
    ("missed", "Missed days, fewest first"),
    ("-missed", "Missed days, most first"),
    ("last_entry", "Last entry, oldest first"),
    ("-last_entry", "Last entry, newest first"),
    ("phase", "Phase, earliest first"),
    ("-phase", "Phase, latest first"),
]


class PatientListForm(ClinicianFilterForm):
    """The patient list and the compliance calendar: search, filters and order."""

    q = forms.CharField(
        label="Study ID contains",
        required=False,
        max_length=40,
        error_messages={"max_length": "A study ID has at most 40 characters."},
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *EnrollmentStatus.choices],
        required=False,
        error_messages={
            "invalid_choice": "Pick a status from the list: screening, active, completed "
            "or withdrawn."
        },
    )
    sort = forms.ChoiceField(
        label="Order",
        choices=SORT_CHOICES,
        required=False,
        error_messages={
            "invalid_choice": "Sort by study_id, compliance, missed, last_entry or phase "
            "(with - in front for descending)."
        },
    )

    field_order = ["q", "protocol", "status", "physician", "sort"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper.form_class = "row row-cols-md-auto g-2 align-items-end mb-3 d-print-none"

    def filter(self, enrollments):
        enrollments = super().filter(enrollments)
        if self.cleaned_data.get("q"):
            enrollments = enrollments.filter(study_id__icontains=self.cleaned_data["q"])
        if self.cleaned_data.get("status"):
            enrollments = enrollments.filter(status=self.cleaned_data["status"])
        return enrollments

    @property
    def ordering(self) -> str:
        """The ?sort= asked for, study ID by default."""
        return (self.is_valid() and self.cleaned_data.get("sort")) or "study_id"

    def query_without(self, *names) -> str:
        """This form's query string without `names` (for page and sort links)."""
        query = self.data.copy() if self.is_bound else {}
        for name in names:
            query.pop(name, None)
        return query.urlencode() if query else ""


class AcknowledgeForm(forms.Form):
    """Acknowledging an alert: the note says what was done, or why nothing is needed."""

    note = forms.CharField(
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. phoned her, travelling until Monday"}),
        error_messages={
            "required": "Write a note to acknowledge the alert: what you did, or why no "
            "action is needed.",
            "max_length": "Keep the note under 1000 characters.",
        },
    )
