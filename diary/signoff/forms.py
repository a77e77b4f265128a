"""The signature form of a phase review: password, a current code, a meaning."""

from django import forms

from diary.signoff.models import SignatureMeaning


class SignatureForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_token = forms.CharField(
        label="Code from your authenticator app",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
        help_text="The 6-digit code your app shows now; a code signs once.",
    )
    meaning = forms.ChoiceField(
        label="Meaning of your signature",
        choices=SignatureMeaning.choices,
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": "Choose what your signature means: reviewed or approved.",
            "required": "Choose what your signature means: reviewed or approved.",
        },
    )
