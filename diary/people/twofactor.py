"""A second factor for staff: a TOTP code from an authenticator app (django-otp).

Physicians and coordinators sign in at /accounts/login/ with user name and password;
before they reach anything else, the next page asks for the 6-digit code (the field
`otp_token`), or a one-time recovery code. Staff without a second factor enrol first:
a QR code (segno) for their app, one code to confirm it, and ten recovery codes shown
once. Patients are never asked. STAFF_2FA may be off only while DEBUG is on (local
development, in-process tests).

Wrong codes: the first OTP_THROTTLE_FREE_FAILURES wrong codes in a row cost no wait, so
a typo or a code that changed while she typed it is simply tried again. After each
further one she waits, by django-otp's own back-off (ThrottlingMixin on each device:
OTP_TOTP_THROTTLE_FACTOR seconds, then twice as long after every further wrong code),
counted from the first failure beyond the free ones; the page says how long. A code
sent during the wait is refused with that wait and does not count as a failure. A
right code ends the streak for her app and her recovery codes alike.
"""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import quote

import django_otp
import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import mark_safe
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from diary.audit.models import AuditAction, AuditEvent
from diary.people.accounts import require_may_change
from diary.security import is_staff_reader

RECOVERY_CODES = 10
# What an unverified staff member may still open: these pages, signing out, and the
# public pages every visitor may.
OPEN_PATHS = ("/accounts/two-factor/", "/accounts/logout/", "/static/", "/healthz")


def needs_second_factor(user) -> bool:
    return settings.STAFF_2FA and user.is_authenticated and is_staff_reader(user)


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


class SecondFactorMiddleware:
    """After django-otp's OTPMiddleware: a staff member who has not given her code in
    this session reaches nothing but the code page (or the enrolment page)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            needs_second_factor(user)
            and not user.is_verified()
            and not request.path.startswith(OPEN_PATHS)
        ):
            target = "two_factor" if has_second_factor(user) else "two_factor_setup"
            return redirect(f"{reverse(target)}?next={quote(request.get_full_path())}")
        return self.get_response(request)


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from your authenticator app",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The 6 digits your app shows now, or one of your recovery codes.",
        error_messages={"required": "Enter the code your authenticator app shows."},
    )

    def clean_otp_token(self):
        return "".join(self.cleaned_data["otp_token"].split())


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or reverse("home")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


def wait_until(device) -> dt.datetime | None:
    """When `device` takes a code again, if she must wait first: django-otp's own check
    (ThrottlingMixin.verify_is_allowed: factor x 2^(n-1) seconds after the n-th wrong
    code in a row, capped), with n counting only the failures beyond the free ones."""
    failures = device.throttling_failure_count
    beyond = failures - settings.OTP_THROTTLE_FREE_FAILURES
    if beyond <= 0:
        return None
    device.throttling_failure_count = beyond
    try:
        allowed, info = device.verify_is_allowed()
    finally:
        device.throttling_failure_count = failures
    if allowed:
        return None
    return (info or {}).get("locked_until") or timezone.now() + dt.timedelta(seconds=1)


def try_code(device, token: str) -> bool:
    """django-otp's verify_token (replay check, drift, its failure count and reset), with
    its wait check left to wait_until, which the caller has passed."""
    device.throttling_enabled = False  # a cached_property: this instance, this call
    try:
        return device.verify_token(token)
    finally:
        del device.throttling_enabled


def check_code(user, token: str):
    """(device, None) for the device of hers that takes `token` (her app or a recovery
    code), else (None, until when she must wait, or None if she need not)."""
    with transaction.atomic():
        devices = list(devices_for_user(user, for_verify=True))
        waits = []
        for device in devices:
            until = wait_until(device)
            if until is not None:
                waits.append(until)
            elif try_code(device, token):
                for other in devices:
                    if other is not device and other.throttling_failure_count:
                        other.throttle_reset()
                return device, None
    return None, max(waits, default=None)


def how_long(until: dt.datetime) -> str:
    """The time left until `until`, in words, rounded up: "1 second", "45 seconds",
    "5 minutes", "3 hours", "2 days"."""
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            count = math.ceil(seconds / size)
            return f"{count} {unit}s"
    return "1 second" if seconds == 1 else f"{seconds} seconds"


def must_wait(until: dt.datetime) -> str:
    return (
        f"Too many wrong codes in a row. Wait {how_long(until)}, then enter the code your "
        "app shows at that moment."
    )


def wrong_code(device=None, message: str = "That code is not right.") -> str:
    """The error after a wrong code; says how long to wait if she now must."""
    until = wait_until(device) if device is not None else None
    if until is not None:
        return f"{message} {must_wait(until)}"
    return f"{message} Enter the code your app shows now (it changes every 30 seconds)."


def _refused(response, until: dt.datetime | None):
    """A code refused because she must wait first: 429, with Retry-After (a wrong code
    stays a 400, its page saying any wait it started)."""
    if until is not None:
        response.status_code = 429
        response["Retry-After"] = str(max(1, math.ceil((until - timezone.now()).total_seconds())))
    return response


@never_cache
def verify(request):
    """The second sign-in page: the code from her app, or a recovery code."""
    user = request.user
    if not needs_second_factor(user):
        return redirect("home")
    if not has_second_factor(user):
        return redirect(f"{reverse('two_factor_setup')}?next={quote(_next(request))}")
    form = CodeForm(request.POST or None)
    until = None
    if request.method == "POST" and form.is_valid():
        device, until = check_code(user, form.cleaned_data["otp_token"])
        if device is not None:
            django_otp.login(request, device)
            if isinstance(device, StaticDevice):
                left = StaticToken.objects.filter(device=device).count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} are left. Set up your "
                    "app again if you lost it.",
                )
            return redirect(_next(request))
        if until is not None:
            form.add_error("otp_token", must_wait(until))
        else:
            app = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            form.add_error(
                "otp_token", wrong_code(app, "That code is not right, or was used already.")
            )
    context = {"form": form, "next": _next(request)}
    response = render(
        request, "registration/two_factor.html", context, status=400 if form.errors else 200
    )
    return _refused(response, until)


@never_cache
def setup(request):
    """Enrolment: scan the QR code, confirm with one code, keep the recovery codes."""
    user = request.user
    if not needs_second_factor(user):
        return redirect("home")
    if has_second_factor(user) and not user.is_verified():
        return redirect(f"{reverse('two_factor')}?next={quote(_next(request))}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST or None)
    until = None
    if request.method == "POST" and form.is_valid():
        until = wait_until(device)
        if until is not None:
            form.add_error("otp_token", must_wait(until))
        elif try_code(device, form.cleaned_data["otp_token"]):
            codes = enrol(user, device)
            django_otp.login(request, device)
            return render(
                request,
                "registration/two_factor_codes.html",
                {"codes": codes, "next": _next(request)},
            )
        else:
            form.add_error("otp_token", wrong_code(device))
    context = {
        "form": form,
        "next": _next(request),
        "qr": mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=4)),
        "secret": _base32(device),
    }
    response = render(
        request, "registration/two_factor_setup.html", context, status=400 if form.errors else 200
    )
    return _refused(response, until)


def _base32(device: TOTPDevice) -> str:
    from base64 import b32encode

    return b32encode(device.bin_key).decode()


@transaction.atomic
def enrol(user, device: TOTPDevice) -> list[str]:
    """Confirm `device` as her only app and give her new recovery codes."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save()
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name="Recovery codes")
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    AuditEvent.objects.create(action=AuditAction.SECOND_FACTOR_ENROLLED, actor=user, user=user)
    return codes


@transaction.atomic
def remove_second_factor(user, *, by, reason: str) -> None:
    """A coordinator removes a lost second factor; she enrols again at her next
    sign-in. Recorded with who and why. Never of an account that sees more than `by`
    does (AccountOutOfReach), nor of her own."""
    if by is not None and by.pk == user.pk:
        raise PermissionDenied("Nobody removes her own second factor.")
    require_may_change(by, user)
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    AuditEvent.objects.create(
        action=AuditAction.SECOND_FACTOR_REMOVED, actor=by, user=user, reason=reason
    )
