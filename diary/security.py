"""Request hardening that every page shares: requests carrying a NUL byte are refused,
and staff sessions end after a short idle time."""

from django.conf import settings
from django.http import HttpResponseBadRequest

NUL = "\x00"


class RejectNulMiddleware:
    """A NUL byte in the address or a form is never valid input (PostgreSQL refuses to
    store or compare one): the request is refused with 400 before any view sees it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path or _carries_nul(request.GET) or _carries_nul(request.POST):
            return HttpResponseBadRequest(
                "The address or the form contains a NUL character; remove it and try again.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _carries_nul(data) -> bool:
    return any(NUL in key or any(NUL in value for value in data.getlist(key)) for key in data)


class StaffSessionMiddleware:
    """Staff (physicians, coordinators) are signed out after STAFF_SESSION_IDLE_SECONDS
    without a request; patients keep SESSION_COOKIE_AGE. The session lives in the
    database, so every app server applies the same idle time."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and is_staff_reader(user):
            request.session.set_expiry(settings.STAFF_SESSION_IDLE_SECONDS)
        return self.get_response(request)


def is_staff_reader(user) -> bool:
    """Physicians, coordinators and any other staff account: they read patient data."""
    return user.is_staff or user.is_physician or user.is_coordinator
