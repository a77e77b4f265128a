"""Checks several browser tests share."""


def assert_no_axe_violations(page, what):
    """axe-core finds no accessibility violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"


def page_scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")
