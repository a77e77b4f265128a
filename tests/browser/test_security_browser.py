"""In a real browser: a coordinator signs in with a TOTP code, and no page type breaks
the Content-Security-Policy (the browser reports no violation on any of them)."""

import base64
import datetime as dt
import hashlib
import hmac
import struct
import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import (
    PASSWORD,
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    make_arm,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "JBSWY3DPEHPK3PXP"
# Records every violation the browser reports, before any page script runs.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(
    `${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def totp(secret: str) -> str:
    counter = int(time.time()) // 30
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6:06d}"


def sign_in(page, url, user):
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_coordinator_signs_in_with_a_code_from_her_app(
    page, expect, live_server, settings, artifacts
):
    settings.STAFF_2FA = True
    coordinator = CoordinatorFactory()
    TOTPDevice.objects.create(
        user=coordinator, name="App", key=base64.b32decode(SECRET).hex(), confirmed=True
    )
    sign_in(page, live_server.url, coordinator)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in code")
    page.goto(f"{live_server.url}/admin/diary/enrollment/")  # nothing before the code
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in code")
    page.fill("input[name=otp_token]", totp(SECRET))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{live_server.url}/admin/diary/enrollment/")
    page.screenshot(path=str(artifacts / "coordinator-after-code.png"))


def test_no_page_type_violates_the_content_security_policy(browser, live_server, settings):
    settings.STAFF_2FA = False
    physician = PhysicianFactory()
    # (Transactional tests start from an empty database: no built-in protocols.)
    arm = make_arm([("baseline", 14), ("ldn", 84), ("placebo", 28)], blinding="double")
    make_arm([("baseline", 14), ("placebo", 28), ("ldn", 84)], code="B", protocol=arm.protocol)
    enrollment = EnrollmentFactory(physician=physician, arm=arm, protocol=arm.protocol)
    start = enrollment.local_today() - dt.timedelta(days=20)
    enrollment.start_date = start
    enrollment.save()
    for n in range(19):
        treatment = n >= 14
        EntryFactory(
            enrollment=enrollment,
            date=start + dt.timedelta(days=n),
            pain=3 + n % 5,
            dose_taken=True if treatment else None,
            tolerability=90 if treatment else None,
            notes="<script>alert(1)</script>" if n == 3 else "",
        )
    coordinator = CoordinatorFactory(allocation_access=True)
    yesterday = enrollment.local_today() - dt.timedelta(days=1)
    pages = {
        None: ["/accounts/login/", "/accounts/password_reset/", "/no-such-page/"],
        enrollment.patient: [
            "/diary/",
            "/diary/history/",
            f"/diary/{yesterday}/",
            "/diary/settings/",
        ],
        physician: [
            "/physician/",
            f"/physician/patients/{enrollment.study_id}/",
            "/physician/cohort/",
        ],
        coordinator: [
            "/exports/",
            "/admin/",
            "/admin/diary/enrollment/",
            f"/admin/diary/enrollment/{enrollment.pk}/change/",
            f"/admin/diary/enrollment/{enrollment.pk}/audit/",
            f"/admin/diary/enrollment/{enrollment.pk}/history/",
            f"/admin/diary/enrollment/{enrollment.pk}/tell-patient/",
            "/admin/diary/enrollment/add/",
            f"/admin/diary/protocol/{enrollment.protocol_id}/change/",
            f"/admin/diary/protocol/{enrollment.protocol_id}/randomization-list/",
            "/admin/diary/diaryentry/add/",
            "/admin/diary/user/",
            "/accounts/two-factor/setup/",
        ],
    }
    found = {}
    for user, urls in pages.items():
        context = browser.new_context()
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        console = []
        page.on(
            "console",
            lambda message, console=console: (
                console.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        if user is not None:
            sign_in(page, live_server.url, user)
        for url in urls:
            response = page.goto(f"{live_server.url}{url}")
            assert response.status in (200, 404), url
            assert "Content-Security-Policy" in {k.title() for k in response.headers}, url
            page.wait_for_load_state("networkidle")
            violations = page.evaluate("window.__violations")
            if violations or console:
                found[url] = violations + console
                console.clear()
        context.close()
    assert found == {}
    settings.STAFF_2FA = True  # the enrolment page was seen without being required
