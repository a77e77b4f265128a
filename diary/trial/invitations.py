"""The e-mails that bring people in: a new account's invitation and a password link,
rationed and audited."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from diary.audit.models import AuditAction, AuditEvent
from diary.links import public_url
from diary.people.accounts import require_may_change
from diary.people.languages import language_of
from diary.people.models import User
from diary.people.signin import password_links_left
from diary.trial.models import Enrollment


def invitation_link(user: User) -> str:
    """A one-time link to choose a password: Django's password-reset token, which stops
    working once the password is set and after PASSWORD_RESET_TIMEOUT seconds."""
    return public_url(
        "invitation",
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
    )


def send_invitation(user: User, *, by: User | None, enrollment: Enrollment | None = None):
    """The invitation to choose a first password. `by` None is the system (an
    enrolment's own invitation); a person may send it only to an account that sees no
    more than she does (diary.people.accounts.account_change_problem)."""
    require_may_change(by, user)
    if not user.is_active:
        raise ValidationError(f"{user.username}'s account is inactive; activate it first.")
    if not user.email:
        raise ValidationError(f"{user.username} has no e-mail address; add one first.")
    context = {
        "user": user,
        "link": invitation_link(user),
        "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        "site_root": settings.SITE_ROOT,
    }
    # In her language: the one the coordinator noted, else the study's default.
    with translation.override(language_of(user)):
        subject = render_to_string("diary/email/invitation_subject.txt", context).strip()
        message = render_to_string("diary/email/invitation.txt", context)
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[user.email])
    AuditEvent.objects.create(
        action=AuditAction.INVITATION_SENT,
        actor=by,
        user=user,
        enrollment=enrollment,
        protocol=enrollment.protocol if enrollment else None,
        details={"email": user.email},
    )


def send_password_link(user: User, *, by: User | None) -> None:
    """A link for `user` to choose her password: the invitation if she has none yet,
    else a password-reset e-mail. Staff never set a password for someone else, and
    send none to an account that sees more than they do (AccountOutOfReach)."""
    require_may_change(by, user)
    if not user.has_usable_password():
        send_invitation(user, by=by)
        return
    if not user.is_active:
        raise ValidationError(f"{user.username}'s account is inactive; activate it first.")
    if not user.email:
        raise ValidationError(f"{user.username} has no e-mail address; add one first.")
    if password_links_left(user) == 0:
        raise ValidationError(
            f"{user.username} got {settings.PASSWORD_RESETS_PER_HOUR} password e-mails in the "
            "last hour already; send another one later."
        )
    site = urlsplit(settings.SITE_ROOT)
    context = {
        "user": user,
        "protocol": site.scheme,
        "domain": site.netloc,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    with translation.override(language_of(user)):
        subject = render_to_string("registration/password_reset_subject.txt", context).strip()
        message = render_to_string("registration/password_reset_email.html", context)
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[user.email])
    AuditEvent.objects.create(
        action=AuditAction.PASSWORD_LINK_SENT, actor=by, user=user, details={"email": user.email}
    )


# Blinding -------------------------------------------------------------------------
# Each unblinding needs a reason and allocation access; who, when and why are stored on
# the row, in its history and as an audit event. None of them can be undone.
