"""Sign-in protection: locking out guessed passwords, and rationing reset e-mails.

django-axes records every failed sign-in in the database (so every app server sees the
same count) and refuses a user name from one address for SIGN_IN_COOLOFF after
SIGN_IN_FAILURES_PER_ADDRESS failures; another account signing in from the same address
is not affected. On top of that, SIGN_IN_FAILURES_PER_ACCOUNT failures for one user name
from anywhere, since her last sign-in or unlock, lock the account until a coordinator
unlocks it in the admin (with a reason, audited): a slow attack spread over many
addresses gets nowhere either. Password-reset e-mails are limited to
PASSWORD_RESETS_PER_HOUR per account.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessFailureLog
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone, translation

from diary.audit.models import AuditAction, AuditEvent
from diary.people import accounts
from diary.people.models import User
from diary.security import after_response


def locked_account(username: str | None) -> User | None:
    """The account of `username` if it is locked until a coordinator unlocks it."""
    if not username:
        return None
    return User.objects.filter(username=username, sign_in_locked_at__isnull=False).first()


def failures_since_last_sign_in(user: User) -> int:
    since = max(
        (moment for moment in (user.last_login, user.sign_in_unlocked_at) if moment),
        default=None,
    )
    failures = AccessFailureLog.objects.filter(username=user.username)
    if since is not None:
        failures = failures.filter(attempt_time__gt=since)
    return failures.count()


class SignInHandler(AxesDatabaseHandler):
    """Axes' database handler, plus the lock of an account that too many failures from
    anywhere have hit."""

    def is_locked(self, request, credentials=None) -> bool:
        if locked_account(get_client_username(request, credentials)) is not None:
            request.account_locked = True
            return True
        return super().is_locked(request, credentials)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None:
            return
        username = get_client_username(request, credentials)
        user = (
            User.objects.filter(username=username, sign_in_locked_at=None).first()
            if username
            else None
        )
        if (
            user is not None
            and failures_since_last_sign_in(user) >= settings.SIGN_IN_FAILURES_PER_ACCOUNT
        ):
            lock(user)
            request.axes_locked_out = True
            request.account_locked = True


def lock(user: User) -> None:
    with transaction.atomic():
        user.sign_in_locked_at = timezone.now()
        user._change_reason = (
            f"Sign-in locked after {settings.SIGN_IN_FAILURES_PER_ACCOUNT} failed attempts"
        )
        user.save(update_fields=["sign_in_locked_at"])
        AuditEvent.objects.create(
            action=AuditAction.SIGN_IN_LOCKED,
            actor_name="sign-in protection",
            user=user,
            details={"failed attempts": settings.SIGN_IN_FAILURES_PER_ACCOUNT},
        )


def unlock(user: User, *, by: User, reason: str) -> None:
    """A coordinator lets the account sign in again (with a reason, audited); never an
    account that sees more than she does."""
    from axes.handlers.proxy import AxesProxyHandler

    accounts.require_may_change(by, user)
    with transaction.atomic():
        user.sign_in_locked_at = None
        user.sign_in_unlocked_at = timezone.now()
        user._history_user = by
        user._change_reason = f"Sign-in unlocked: {reason}"
        user.save(update_fields=["sign_in_locked_at", "sign_in_unlocked_at"])
        AxesProxyHandler.reset_attempts(username=user.username)
        AuditEvent.objects.create(
            action=AuditAction.SIGN_IN_UNLOCKED, actor=by, user=user, reason=reason
        )


def lockout_response(request, original_response=None, credentials=None):
    """The page a refused sign-in gets (HTTP 429): why, and what to do."""
    context = {
        "account_locked": getattr(request, "account_locked", False),
        "minutes": int(settings.SIGN_IN_COOLOFF.total_seconds() // 60),
    }
    return render(request, "registration/locked_out.html", context, status=429)


# Password-reset e-mails -------------------------------------------------------------


def password_links_left(user: User) -> int:
    """How many more password e-mails (resets, staff-sent links) `user` may get within
    the hour: PASSWORD_RESETS_PER_HOUR in any hour, counted in the audit trail so every
    app server agrees."""
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    sent = AuditEvent.objects.filter(
        action=AuditAction.PASSWORD_LINK_SENT, user=user, at__gte=hour_ago
    ).count()
    return max(settings.PASSWORD_RESETS_PER_HOUR - sent, 0)


class RationedPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending at most PASSWORD_RESETS_PER_HOUR e-mails per account
    and hour. The page answers the same either way, and just as fast, so it tells nobody
    whether an address has an account or how many e-mails it got.

    Timing: the request only checks the form and answers. Everything that depends on
    the address (looking up its accounts, counting the e-mails of the hour, drawing
    and sending the e-mail, the audit row) runs after the response has been sent
    (diary.security.after_response), in the same process, so an address with an
    account answers as fast as one without (before: 4-37 ms against 2.5 ms). This was
    chosen over padding to a constant time (a slow mail server would exceed any pad)
    and over a queue (a table or broker other servers poll, which the study does not
    run): nothing is kept for another app server, and the e-mail is sent by the
    worker that answered, right after answering, so it is lost only if that worker
    is killed in between."""

    def save(self, **kwargs):
        send, language = partial(super().save, **kwargs), translation.get_language()

        def send_in_the_pages_language():
            with translation.override(language):
                send()

        after_response(send_in_the_pages_language)

    def get_users(self, email):
        return [user for user in super().get_users(email) if password_links_left(user) > 0]

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)
        user = context["user"]
        AuditEvent.objects.create(
            action=AuditAction.PASSWORD_LINK_SENT,
            actor_name="password reset page",
            user=user,
            details={"email": user.email},
        )


def client_ip(request) -> str | None:
    """The address a sign-in came from. Behind TRUSTED_PROXY_COUNT proxies (a load
    balancer) it is the one the outermost trusted proxy saw in X-Forwarded-For; without
    them, the connection's own address (a forwarded header could be forged)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")
