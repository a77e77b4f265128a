"""Her week strip in a real browser: recorded, missed, open and today each have their own
colour (none of them Bootstrap's highlight yellow, which its `.mark` class once painted
over every cell), readable text on it (WCAG AA), and a cue that is not colour (WCAG 1.4.1):
a visible symbol or word, and a name for screen readers."""

import datetime as dt
import re

import pytest

from tests.factories import PASSWORD, EnrollmentFactory, EntryFactory, PatientFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The strip is the last 7 days, oldest first: 6 days ago ... today.
RECORDED = [3, 2]  # days back
MISSED = [6, 5, 4]  # outside the grace day: locked
OPEN = [1]  # yesterday: still inside the grace day
TODAY = 0

CELLS_JS = """() => [...document.querySelectorAll('.week-day')].map(li => {
  const symbol = li.querySelector('.week-sym');
  return {
    classes: li.className,
    background: getComputedStyle(li).backgroundColor,
    symbolColour: getComputedStyle(symbol).color,
    symbolBackground: getComputedStyle(symbol).backgroundColor,
    symbol: symbol.innerText.trim(),
    weekday: li.querySelector('.week-wd').innerText.trim(),
    hidden: li.querySelector('.visually-hidden').textContent.trim(),
    current: li.getAttribute('aria-current'),
  };
})"""

# What Bootstrap paints a <mark> (and a `.mark`) with, read from the page's own stylesheet.
MARK_JS = """() => {
  const mark = document.createElement('mark');
  mark.textContent = 'x';
  document.body.append(mark);
  const colour = getComputedStyle(mark).backgroundColor;
  mark.remove();
  return colour;
}"""

# Every class selector of the vendored Bootstrap stylesheet.
BOOTSTRAP_CLASSES_JS = """() => {
  const sheets = [...document.styleSheets].filter(s => (s.href || '').includes('bootstrap'));
  const names = new Set();
  const walk = rules => { for (const rule of rules) {
    if (rule.selectorText) {
      const found = rule.selectorText.matchAll(/\\.(-?[_a-zA-Z][-_a-zA-Z0-9]*)/g);
      for (const m of found) names.add(m[1]);
    }
    if (rule.cssRules) walk(rule.cssRules);
  } };
  sheets.forEach(s => walk(s.cssRules));
  return {sheets: sheets.length, names: [...names]};
}"""


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="single")
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol, patient=PatientFactory())
    today = enrollment.local_today()
    enrollment.start_date = today - dt.timedelta(days=20)
    enrollment.save()
    for back in RECORDED:
        EntryFactory(enrollment=enrollment, date=today - dt.timedelta(days=back), pain=4)
    return enrollment


def rgb(css: str) -> tuple[int, int, int]:
    """'rgb(1, 2, 3)' or 'rgba(1, 2, 3, 1)' as (1, 2, 3); a see-through colour fails."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    assert len(values) == 3 or values[3] == 1, f"not an opaque colour: {css}"
    return tuple(round(v) for v in values[:3])


def contrast(one: tuple, other: tuple) -> float:
    def luminance(colour):
        linear = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in colour)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_recorded_missed_open_and_today_differ_by_colour_and_by_more_than_colour(
    page, expect, live_server, enrollment, artifacts
):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", enrollment.patient.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/diary/")
    expect(page.locator(".week-day")).to_have_count(7)
    page.locator(".week").screenshot(path=str(artifacts / "week-strip.png"))

    cells = page.evaluate(CELLS_JS)
    by_back = {6 - index: cell for index, cell in enumerate(cells)}
    state = {back: re.search(r"state-(\w+)", cell["classes"])[1] for back, cell in by_back.items()}
    assert [back for back in state if state[back] == "done"] == RECORDED
    assert [back for back in state if state[back] == "missed"] == MISSED
    assert [back for back in state if state[back] == "open"] == [*OPEN, TODAY]

    # No class of a cell is one of Bootstrap's (but its own screen-reader-only text).
    bootstrap = page.evaluate(BOOTSTRAP_CLASSES_JS)
    assert bootstrap["sheets"] == 1 and "mark" in bootstrap["names"]
    used = set(
        page.evaluate(
            "() => [...document.querySelectorAll('.week-day, .week-day *')]"
            ".flatMap(e => [...e.classList])"
        )
    )
    assert {"week-sym", "week-wd", "week-dn", "week-today", "visually-hidden"} <= used
    collide = used & set(bootstrap["names"]) - {"visually-hidden"}
    assert not collide, f"strip classes that are also Bootstrap's: {sorted(collide)}"

    # Four colours, none of them the highlight yellow; nothing paints over a cell.
    mark_yellow = rgb(page.evaluate(MARK_JS))
    assert mark_yellow == (255, 243, 205)  # Bootstrap 5.3's --bs-highlight-bg
    colours = {
        "recorded": rgb(by_back[RECORDED[0]]["background"]),
        "missed": rgb(by_back[MISSED[0]]["background"]),
        "open": rgb(by_back[OPEN[0]]["background"]),
        "today": rgb(by_back[TODAY]["background"]),
    }
    print("week strip colours:", colours, "mark:", mark_yellow)
    assert len(set(colours.values())) == 4, colours
    assert mark_yellow not in colours.values(), colours
    for back in RECORDED + MISSED:  # every cell of a state has that state's colour
        name = "recorded" if back in RECORDED else "missed"
        assert rgb(by_back[back]["background"]) == colours[name]
    for back, cell in by_back.items():
        assert cell["symbolBackground"] == "rgba(0, 0, 0, 0)", (back, cell)
        ratio = contrast(rgb(cell["symbolColour"]), rgb(cell["background"]))
        assert ratio >= 4.5, f"{back} days back: contrast {ratio:.2f}"

    # Not by colour alone: a visible symbol per state, "Today" on today, and a name.
    symbols = (
        {by_back[back]["symbol"] for back in RECORDED},
        {by_back[back]["symbol"] for back in MISSED},
    )
    assert symbols == ({"✓"}, {"✗"})
    assert by_back[OPEN[0]]["symbol"] == "+"
    assert by_back[TODAY]["weekday"] == "Today"
    assert by_back[TODAY]["current"] == "date"
    assert [cell["current"] for cell in cells].count("date") == 1
    for back in RECORDED:
        assert by_back[back]["hidden"].endswith(": recorded")
    for back in MISSED:
        assert by_back[back]["hidden"].endswith(": missing, locked")
    assert by_back[OPEN[0]]["hidden"].endswith(": missing, you can still fill it in")
    assert by_back[TODAY]["hidden"].startswith("Today, ")
    assert by_back[TODAY]["hidden"].endswith(": not recorded yet")
    # Today's border is heavier than the others': a shape cue too.
    widths = page.evaluate(
        "() => [...document.querySelectorAll('.week-day')]"
        ".map(li => parseFloat(getComputedStyle(li).borderTopWidth))"
    )
    assert widths[-1] > max(widths[:-1])

    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context=".week")
    assert results.violations_count == 0, results.generate_report()
