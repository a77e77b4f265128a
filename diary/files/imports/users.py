"""import_users, and the checks of a username and an e-mail address, which the new
patients of an enrollment file pass too.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models.functions import Lower

from diary.files.imports.reading import CsvRows, Outcome, _differences, _fail_if_any
from diary.files.imports.writing import _all_or_nothing, _change_reason
from diary.people.accounts import new_account
from diary.people.models import Role, User


def _email_problems(email: str, required: bool) -> list[str]:
    if not email:
        return ["email is required (the account is invited by e-mail)"] if required else []
    try:
        validate_email(email)
    except ValidationError:
        return [f'email "{email}" is not an e-mail address']
    if len(email) > User._meta.get_field("email").max_length:
        return [f'email "{email}" is too long']
    return []


def _username_problems(username: str) -> list[str]:
    if not username:
        return ["username is required"]
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError:
        return [
            f'username "{username}" may use only letters, digits and @ . + - _ '
            "(at most 150 characters)"
        ]
    return []


def _same_email(stored: str, given: str) -> bool:
    # Mailbox names are case-insensitive in practice; Django lowercases only the domain.
    return stored.lower() == given.lower()


def _users_by_name(usernames: Iterable[str]) -> dict[str, User]:
    """Users whose username matches one of `usernames` ignoring case, keyed by the
    lowercased name (one query). A different case is reported, never a second account."""
    wanted = {name.lower() for name in usernames if name}
    users = User.objects.annotate(name_key=Lower("username")).filter(name_key__in=wanted)
    return {user.username.lower(): user for user in users}


USER_COLUMNS = ["username", "email", "role"]


def import_users(path, *, by=None, file_name: str = "", check_only: bool = False) -> Outcome:
    """Accounts with no usable password (they are invited later); coordinators get
    is_staff from User.save. `check_only`: check the whole file (ImportFailed) and say
    what would be created, writing nothing; `by`, `file_name`: who imports it on the
    web, and the name it was uploaded under (_change_reason)."""
    rows = CsvRows(path, USER_COLUMNS)
    existing = _users_by_name(row["username"] for _, row in rows)
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    new: list[User] = []
    outcome = Outcome()
    for line, row in rows:
        username, email, role = row["username"], row["email"], row["role"].lower()
        errors = _username_problems(username) + _email_problems(email, required=True)
        if role not in Role.values:
            errors.append(f'role "{row["role"]}" must be one of {", ".join(Role.values)}')
        key = username.lower()
        if username and key in seen:
            errors.append(f'username "{username}" appears again (first on line {seen[key]})')
        seen.setdefault(key, line)
        if not errors:
            user = existing.get(key)
            if user is None:
                new.append({"username": username, "email": email, "role": role})
                continue
            if user.username != username:
                errors.append(
                    f'username "{username}" differs only in case from the existing user '
                    f'"{user.username}"; use the same spelling'
                )
            elif user.role != role or not _same_email(user.email, email):
                pairs = {"role": (user.role, role)}
                if not _same_email(user.email, email):
                    pairs["email"] = (user.email, email)
                errors.append(
                    f'user "{username}" already exists with other values '
                    f"({_differences(pairs)}); change the account in the admin"
                )
            else:
                outcome.unchanged += 1
        problems.extend((line, error) for error in errors)
    _fail_if_any(rows, problems)
    outcome.created = len(new)
    if check_only:
        return outcome
    reason = _change_reason(path, by, file_name)
    with _all_or_nothing():
        for account in new:
            new_account(**account, reason=reason, by=by)
    return outcome
