"""Accounts: who may change whose role and rights, and the record of every change.

A change of role, staff, superuser, active or allocation access widens or narrows what
someone sees, and a change of e-mail decides who can recover the account: each needs a
reason and is an audit event. Nobody changes their own role or rights; only a superuser
changes superuser rights and allocation access, and a superuser's account; allocation
access is for staff accounts only. Staff never set another person's password: they send
a link (diary.trial.invitations.send_password_link), so every entry stays attributable to the
person who signed in.

Nobody changes an account that sees more than she does (account_change_problem): not
its details or e-mail, not its rights, no password or invitation link, no removing its
second factor, no unlocking it. Whoever could do one of those could take it over and
see what it sees. Every door asks the same function: the user admin (its change page,
its actions and its pages for unlocking and removing a second factor),
diary.trial.invitations.send_password_link and send_invitation, and
diary.people.twofactor.remove_second_factor.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from diary.audit.models import AuditAction, AuditEvent
from diary.people.models import Role, User

RIGHTS_FIELDS = ["role", "is_staff", "is_superuser", "is_active", "allocation_access"]
# Changes that need a reason and are audit events.
AUDITED_FIELDS = [*RIGHTS_FIELDS, "email"]
SUPERUSER_ONLY_FIELDS = ["is_superuser", "allocation_access", "groups", "user_permissions"]
# The rights on an account's form, in the order they are shown.
RIGHTS_FORM_FIELDS = [*RIGHTS_FIELDS, "groups", "user_permissions"]
# Every field of an account's change form.
ACCOUNT_FIELDS = [
    "username",
    "first_name",
    "last_name",
    "email",
    "language",
    *RIGHTS_FORM_FIELDS,
]


def account_change_problem(editor: User, account: User | None) -> str | None:
    """Why `editor` may not change `account` at all, or None if she may: she must see
    at least as much as the account does. Nobody but a superuser changes a superuser;
    nobody without allocation access changes an account that holds it (the flag itself,
    whether or not the account is active now), a superuser without it included: she
    could otherwise point its e-mail at herself, send it a password link and read every
    arm. (A superuser still grants and revokes its rights: see rights_only.)"""
    if account is None or editor.pk == account.pk:
        return None  # a new account, or her own (her own rights are locked apart)
    if account.is_superuser and not (editor.is_active and editor.is_superuser):
        return (
            f"{account.username} is a superuser: only a superuser changes her account, "
            "sends her a password link or unlocks her, or removes her second factor."
        )
    if account.allocation_access and not editor.has_allocation_access:
        return (
            f"{account.username} has allocation access and sees more than you do: only "
            "staff with allocation access change her details or e-mail, send her a "
            "password link, unlock her or remove her second factor."
        )
    return None


def may_change(editor: User, account: User | None) -> bool:
    """`editor` sees at least as much as `account` (see account_change_problem)."""
    return account_change_problem(editor, account) is None


def rights_only(editor: User, account: User | None) -> bool:
    """A superuser without allocation access may change nothing of an account that
    holds it but its rights: she grants and revokes allocation access (and may
    deactivate the account), never its e-mail, password link or second factor."""
    return (
        account is not None
        and not may_change(editor, account)
        and editor.is_active
        and editor.is_superuser
    )


class AccountOutOfReach(PermissionDenied):
    """An account that sees more than the person who tried to change it."""


def require_may_change(editor: User | None, account: User) -> None:
    """Refuse (AccountOutOfReach, a PermissionDenied) a change by `editor` of an account
    that sees more than she does. `editor` None is the system itself (an enrolment's
    invitation, a management command run on the server)."""
    if editor is None:
        return
    problem = account_change_problem(editor, account)
    if problem:
        raise AccountOutOfReach(problem)


def locked_fields(editor: User, account: User | None) -> list[str]:
    """The fields of `account` (None: a new account) that `editor` may not change."""
    if rights_only(editor, account):
        return [name for name in ACCOUNT_FIELDS if name not in RIGHTS_FORM_FIELDS]
    if not may_change(editor, account):
        return list(ACCOUNT_FIELDS)
    locked = []
    if account is not None and account.pk == editor.pk:
        locked += [*RIGHTS_FIELDS, "groups", "user_permissions"]
    if not editor.is_superuser:
        locked += SUPERUSER_ONLY_FIELDS
    return list(dict.fromkeys(locked))


def rights_problems(values: dict) -> dict[str, str]:
    """{field: what to fix} for rights that do not go together."""
    staff = values.get("is_staff") or values.get("role") == "coordinator"
    if values.get("allocation_access") and not staff:
        return {
            "allocation_access": "Allocation access is for staff accounts only (a "
            "coordinator, or staff status)."
        }
    return {}


def rights_changes(before: dict, account: User) -> dict[str, str]:
    """{field: "old → new"} for the audited fields that differ from `before`."""
    changes = {}
    for name in AUDITED_FIELDS:
        old, new = before.get(name), getattr(account, name)
        if old != new and not (old is None and new is False):  # a new account's "no"
            changes[name] = f"{old} → {new}"
    return changes


def rights_of(account: User | None) -> dict:
    """The audited fields of `account` (all None for a new one)."""
    return {name: getattr(account, name, None) for name in AUDITED_FIELDS}


def record_rights_change(account: User, changes: dict[str, str], *, by, reason: str) -> None:
    """The audit event of a change of rights (the history row has the same reason)."""
    if changes:
        AuditEvent.objects.create(
            action=AuditAction.ACCOUNT_CHANGED,
            actor=by,
            user=account,
            reason=reason,
            details={"account": account.username, **changes},
        )


def new_account(
    *,
    username: str,
    email: str,
    role: str = Role.PATIENT,
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    by=None,
    reason: str = "Created",
) -> User:
    """A new account (enrolment, imports): no usable password, since she chooses her
    own through the invitation link; its history row says who created it and why."""
    user = User(
        username=username,
        email=User.objects.normalize_email(email),
        role=role,
        first_name=first_name,
        last_name=last_name,
        language=language,
    )
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user._history_user = by
    user._change_reason = reason
    user.save()
    return user
