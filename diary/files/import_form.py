"""The upload form of an import on the web (diary.files.imports.jobs): the file, and the
options its kind has (a protocol and "replace" for a randomization list; an unblinded
import with a reason for enrollments, allocation access only)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from diary.audit.models import required_reason
from diary.security import megabytes
from diary.trial.models import Protocol


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "UTF-8 CSV with a header row naming the columns (in any order), at most %(limit)s."
        )
        % {"limit": megabytes(settings.UPLOAD_LIMIT_BYTES)},
    )
    protocol = forms.ModelChoiceField(
        queryset=Protocol.objects.order_by("slug"),
        to_field_name="slug",
        label=gettext_lazy("Protocol"),
    )
    replace = forms.BooleanField(
        required=False,
        label=gettext_lazy("Replace the rows uploaded before (only while none of them is used)"),
    )
    unblinded = forms.BooleanField(
        required=False,
        label=gettext_lazy(
            "Move a study's existing allocations in: the file may give the arms of blinded "
            "protocols"
        ),
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Reason (kept in the audit trail)"),
    )

    def __init__(self, *args, kind, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        if not kind.protocol:
            del self.fields["protocol"], self.fields["replace"]
        # The unblinded options are offered to allocation access only.
        if not (kind.unblinded and user.has_allocation_access):
            del self.fields["unblinded"], self.fields["reason"]

    def clean_file(self):
        """Refused by its size before a line of it is read."""
        upload = self.cleaned_data["file"]
        limit = settings.UPLOAD_LIMIT_BYTES
        if upload.size > limit:
            raise ValidationError(
                _(
                    "The file is %(size)s; an import may be at most %(limit)s. Split it, or "
                    "check that this is the right file."
                )
                % {"size": megabytes(upload.size), "limit": megabytes(limit)}
            )
        if upload.size == 0:
            raise ValidationError(_("The file is empty; choose the CSV file to import."))
        return upload

    def clean(self):
        cleaned = super().clean()
        if "unblinded" in self.fields:
            reason = (cleaned.get("reason") or "").strip()
            if cleaned.get("unblinded"):
                try:
                    cleaned["reason"] = required_reason(reason, _("an unblinded import"))
                except ValidationError as error:
                    self.add_error("reason", error)
            elif reason:
                self.add_error(
                    "reason", _("A reason goes with an unblinded import; a blinded one needs none.")
                )
        return cleaned

    def options(self) -> dict:
        """The options the import function takes (kept in the job's parameters)."""
        data = self.cleaned_data
        options = {}
        if "protocol" in self.fields:
            options = {"protocol": data["protocol"].pk, "replace": bool(data.get("replace"))}
        if data.get("unblinded"):
            options["unblinded_reason"] = data["reason"]
        return options
