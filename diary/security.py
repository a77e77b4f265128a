"""Request hardening that every page shares: a request the diary cannot read (a form in
another charset than UTF-8, a body over the upload limit, too many fields, a NUL byte)
is refused with 400 and a message that says what to fix; a database that does not
answer gives 503 with a retry message instead of a server error; work that must not
delay a response runs after it; staff sessions end after a short idle time."""

from __future__ import annotations

import codecs
import logging
import sys
import threading

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError
from django.http.request import UnreadablePostError
from django.template import loader
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

NUL = "\x00"
MB = 1024 * 1024


def megabytes(size: int) -> str:
    return f"{size / MB:.1f}".removesuffix(".0") + " MB"


class RequestInputMiddleware:
    """Input the diary cannot read is refused with 400 and a plain message before any
    view (or the CSRF check, which reads the form) sees it:

    - a body longer than REQUEST_BODY_LIMIT_BYTES (UPLOAD_LIMIT_BYTES and the form
      around it), refused from its Content-Length before a byte of it is read;
    - a declared charset other than UTF-8, known (latin-1, utf-16) or not (foo): the
      forms are UTF-8 (Django refuses other URL-encoded charsets with an exception, and
      would decode multipart fields in them);
    - a form Django refuses to parse: more than DATA_UPLOAD_MAX_MEMORY_SIZE of fields,
      more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields or DATA_UPLOAD_MAX_NUMBER_FILES
      files, a broken multipart body;
    - a NUL byte in the address or a form, which is never valid input (PostgreSQL
      refuses to store or compare one).

    The form is parsed here, once, so none of these errors can surface later as a
    server error, nor again while an error page is drawn."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = input_refusal(request)
        if refusal:
            return HttpResponseBadRequest(refusal, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def input_refusal(request) -> str | None:
    """Why the request cannot be read, or None."""
    length = declared_length(request)
    if length > settings.REQUEST_BODY_LIMIT_BYTES:
        return (
            f"The request is {megabytes(length)}, larger than the limit: an uploaded file "
            f"may be at most {megabytes(settings.UPLOAD_LIMIT_BYTES)}. Send a smaller file "
            "(or split it) and try again."
        )
    charset = request.content_params.get("charset")
    if charset is not None and is_utf8(charset):
        # Another spelling of UTF-8 ("UTF8"), which Django refuses for URL-encoded forms.
        request.encoding = "utf-8"
    elif charset is not None:
        shown = charset[:40].encode("ascii", "backslashreplace").decode()
        return (
            f'Send the form as UTF-8: this request declares the charset "{shown}", which '
            "the diary does not read. Reload the page in your browser and send the form "
            "again (a program must send UTF-8 with charset=utf-8 or no charset)."
        )
    try:
        query, form = request.GET, request.POST
    except RequestDataTooBig:
        return (
            "The form is larger than the limit of "
            f"{megabytes(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} (files not counted); shorten "
            "what you typed and send it again."
        )
    except TooManyFieldsSent:
        return (
            f"The form has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields; "
            "send fewer at a time."
        )
    except TooManyFilesSent:
        return (
            f"The form carries more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} file(s); "
            "send one file at a time."
        )
    except (MultiPartParserError, BadRequest, UnreadablePostError):
        return (
            "The form could not be read (it was cut off or is not a valid form); reload the "
            "page and send it again."
        )
    if NUL in request.path or _carries_nul(query) or _carries_nul(form):
        return "The address or the form contains a NUL character; remove it and try again."
    return None


def declared_length(request) -> int:
    """The body's Content-Length: Django reads no more than that (none without it)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def is_utf8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name == "utf-8"
    except (LookupError, ValueError, TypeError):
        return False


def _carries_nul(data) -> bool:
    return any(NUL in key or any(NUL in value for value in data.getlist(key)) for key in data)


# The database does not answer ---------------------------------------------------------

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 60


class DatabaseUnavailableMiddleware:
    """A request that failed because the database does not answer (refused or lost
    connection, a restart, a failover: OperationalError or InterfaceError, wherever it
    was raised, the session's load included) answers 503 with a retry message and a
    Retry-After header instead of the server-error page. Django turns the exception
    into a 500 at the layer where it was raised and reports it (logged as usual) through
    got_request_exception, which marks the request; this middleware, outside every layer
    that touches the database, swaps the 500 for the 503 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, "database_unavailable", False):
            return database_unavailable_response()
        return response


def database_unavailable_response() -> HttpResponse:
    """templates/503.html, drawn without the request: no context processor, so nothing
    that could query the database."""
    try:
        body = loader.get_template("503.html").render()
        content_type = "text/html; charset=utf-8"
    except Exception:  # the page must not fail: fall back to plain text
        logger.exception("The 503 page could not be drawn")
        body = _("The service is briefly unavailable; try again in a minute.")
        content_type = "text/plain; charset=utf-8"
    response = HttpResponse(body, status=503, content_type=content_type)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def is_database_unavailable(error: BaseException | None) -> bool:
    """The error, or one it was raised from or while handling, is a database error."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, DATABASE_ERRORS):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _note_database_unavailable(sender, request=None, **kwargs):
    # Sent by Django while it handles the exception, so sys.exc_info() is that one.
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        request.database_unavailable = True


got_request_exception.connect(_note_database_unavailable, dispatch_uid="diary-db-unavailable")


# After the response -------------------------------------------------------------------

_pending = threading.local()


def after_response(work) -> None:
    """Run `work()` in this process once the current request's response has been sent
    (the server closes the response after writing it, which sends request_finished), or
    now outside a request (a shell, a management command). A failure is logged; the
    response is gone by then. Nothing is kept for another process: with several app
    servers, each does the work of its own requests."""
    queue = getattr(_pending, "queue", None)
    if queue is None:
        work()
    else:
        queue.append(work)


def _open_queue(sender, **kwargs):
    _pending.queue = []


def _run_queue(sender, **kwargs):
    queue, _pending.queue = getattr(_pending, "queue", None), None
    if not queue:
        return
    for work in queue:
        try:
            work()
        except Exception:
            logger.exception("Work deferred until after the response failed")
    # Django closed the request's connections before this receiver ran (its own one
    # was connected first); close the ones the work opened on the same terms, except
    # one inside a transaction (a test's).
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


# This module is loaded with the middleware, before the first request starts.
request_started.connect(_open_queue, dispatch_uid="diary-after-response-open")
request_finished.connect(_run_queue, dispatch_uid="diary-after-response-run")


# Staff sessions -----------------------------------------------------------------------


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
