"""The offline diary's two doors: the service worker script (scope /diary/) and the
endpoint that takes the answers her phone kept while it had no network."""

from __future__ import annotations

import hashlib
import json

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from diary import access
from diary.entries import offline

# What the service worker keeps for the diary to open offline (besides her pages).
OFFLINE_ASSETS = (
    "vendor/bootstrap/bootstrap.min.css",
    "css/diary.css",
    "js/offline.js",
    "js/offline-store.js",
    "icons/icon.svg",
    "icons/favicon-32.png",
)


@login_not_required
@require_GET
def service_worker(request):
    """The service worker, served under /diary/ so that its scope is the diary alone
    (staff pages are never cached). Its cache name changes with the static files'
    names, so a new release replaces the old cache."""
    assets = [static(path) for path in OFFLINE_ASSETS]
    version = hashlib.sha256("\n".join(assets).encode()).hexdigest()[:12]
    script = render_to_string(
        "diary/sw.js",
        {
            "assets_json": json.dumps(assets),
            "version": version,
            "store_url": static("js/offline-store.js"),
        },
    )
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/diary/"
    return response


@login_not_required
@never_cache
@require_POST
def sync(request):
    """One answer kept on her phone: JSON in, JSON out. Not signed in: 401, and the
    phone keeps the answer until she signs in again."""
    user = request.user
    if not user.is_authenticated:
        return JsonResponse(
            {"result": "signin", "message": _("Sign in to send the answers kept on this phone.")},
            status=401,
        )
    enrollment = access.own_enrollment(user)  # 404 for anyone but a patient
    if enrollment is None:
        return JsonResponse(
            {"result": "refused", "message": _("You are not enrolled in a study yet.")},
            status=409,
        )
    try:
        payload = json.loads(request.body or b"null")
        sent = offline.receive(enrollment, user, payload)
    except (ValueError, offline.BadAnswer) as problem:
        return JsonResponse({"result": "bad", "message": str(problem)}, status=400)
    status = {"foreign": 409}.get(sent.outcome, 200)
    return JsonResponse(sent.as_json(), status=status)
