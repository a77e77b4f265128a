"""The physician pages' filters fold behind a "Filters" toggle on a phone (390 px) and
are open on a desktop (1280 px); the toggle counts the filters that are on."""

import pytest

from tests.browser.test_legibility_browser import DESKTOP, PHONE, context_page, sign_in
from tests.factories import EnrollmentFactory, PhysicianFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/physician/", "/physician/calendar/", "/physician/cohort/", "/physician/alerts/"]


@pytest.fixture
def physician():
    arm = make_arm([("baseline", 14), ("ldn", 28)], blinding="open")
    physician = PhysicianFactory()
    EnrollmentFactory(arm=arm, protocol=arm.protocol, physician=physician)
    return physician


def test_filters_fold_on_a_phone_and_open_on_a_desktop(browser, live_server, physician):
    for viewport, folded in ((PHONE, True), (DESKTOP, False)):
        context, page = context_page(browser, viewport)
        try:
            sign_in(page, live_server.url, physician, "/physician/")
            for path in PAGES:
                page.goto(f"{live_server.url}{path}")
                toggle = page.locator("details[data-filters] > summary")
                search = page.locator("details[data-filters] input[name=q]")
                if path == "/physician/cohort/":
                    search = page.locator("details[data-filters] select").first
                assert toggle.is_visible(), path
                assert search.is_visible() is not folded, (path, viewport)
                if folded:
                    toggle.click()
                    assert search.is_visible(), f"{path}: Filters opens them"
        finally:
            context.close()


def test_the_toggle_counts_the_filters_that_are_on(browser, live_server, physician):
    context, page = context_page(browser, PHONE)
    try:
        sign_in(page, live_server.url, physician, "/physician/")
        page.goto(f"{live_server.url}/physician/?q=003&sort=-missed")
        assert (
            page.locator("details[data-filters] > summary")
            .inner_text()
            .startswith("Filters (1 on)")
        )
        page.goto(f"{live_server.url}/physician/alerts/?q=003")
        assert "Filters (1 on)" in page.locator("details[data-filters] > summary").inner_text()
    finally:
        context.close()
