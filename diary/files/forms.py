"""The export page's forms: which file, of which protocol, as of when; and the
unblinded file's reason."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from diary.figures.forms import AsOfField
from diary.trial.models import Protocol


class ExportForm(forms.Form):
    """What a coordinator downloads; the file shows what a blinded physician sees."""

    WHAT = [
        ("entries.csv", "Diary entries (CSV, one row per entry)"),
        ("summaries.csv", "Summaries (CSV, one decimal)"),
        ("summaries.json", "Summaries (JSON)"),
        ("fhir.json", "Diary entries and clinic visits (FHIR R4 Bundle, JSON)"),
        ("visits.csv", "Clinic visits (CSV, one row per visit)"),
        ("signatures.csv", "Phase review signatures (CSV, one row per signature)"),
        ("queries.csv", "Data queries (CSV, one row per query)"),
    ]

    what = forms.ChoiceField(choices=WHAT, label="File", initial="entries.csv")
    protocol = forms.ModelChoiceField(
        queryset=Protocol.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="All protocols",
    )
    as_of = AsOfField(label="Summaries as of")
    method = "get"
    button = "Download"
    # A second button preparing the same file as a background job (None: no button).
    job_button = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_method = self.method
        self.helper.add_input(Submit("", self.button))
        if self.job_button:
            self.helper.add_input(Submit("background", self.job_button, css_class="btn-secondary"))


class ExportJobForm(ExportForm):
    """The same choices as ExportForm, posted to prepare the file as a background job."""

    method = "post"
    button = "Prepare as a background job"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper.form_id = "export-job"
        self.helper.form_action = "diary:export_job"


class UnblindedExportForm(ExportForm):
    """An unblinded file: arms and treatment names of still-blinded protocols, for
    allocation access only, posted with a reason that goes into the audit trail."""

    reason = forms.CharField(
        label="Reason for the unblinded file",
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Required. Recorded with your name and the time in the audit trail.",
        error_messages={"required": "Say why you need an unblinded file; it is audited."},
    )
    method = "post"
    button = "Download unblinded file"
    job_button = "Prepare as a background job"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper.form_id = "unblinded-export"
        self.helper.form_class = "border border-danger rounded p-3"

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why you need an unblinded file; it is audited.")
        return reason
