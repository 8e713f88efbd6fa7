"""The wall's two pictures, drawn on the server as inline SVG: the open backlog by age, and the
tickets created on each of the last 14 days. Here the bars are measured; the markup is the
template's (dashboard/_chart.svg).

Pure functions, from counts to markup: nothing here asks the store or reads the clock. Which
bar a ticket's age falls in, and how many days are counted, is the count walk's (`ages`).
Every number is formatted from an int or float, every word is escaped by the template, and the
colours and type sizes are CSS classes (wall.css), so the strict CSP needs no inline style.
Each chart is an image to assistive technology (`role="img"`), named by its `<title>` and
described, numbers included, by its `<desc>`; the same numbers are drawn as text on the bars
for the room. Drawing both pictures through the template costs about 1.1 ms a board, against
0.1 ms written out in Python: a wall refreshes every 30 s, so the template is worth it.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.template.loader import render_to_string
from django.utils import timezone

from dashboard.tickets.ages import AGE_BUCKETS, DAYS


@dataclass(frozen=True)
class Bar:
    label: str  # under the column or beside the bar
    spoken: str  # the same for the description: "under 4 hours", "Monday 3 March"
    value: int | None  # None: not counted (the walk stopped before it)
    at_least: bool = False  # a lower bound: the walk stopped inside this bar's range
    tone: str = ""  # a CSS class suffix for its colour
    key: str = ""  # what the bar is of, as a `data-bar` hook: its label, or its ISO day

    @property
    def shown(self):
        if self.value is None:
            return "–"
        return f"≥ {self.value}" if self.at_least else str(self.value)

    @property
    def said(self):
        if self.value is None:
            return f"{self.spoken}: not counted"
        number = f"at least {self.value}" if self.at_least else str(self.value)
        noun = "ticket" if self.value == 1 and not self.at_least else "tickets"
        return f"{self.spoken}: {number} {noun}"


def backlog_of(counts):
    """The backlog bars of a count walk's tally (`counts.Counts`)."""
    reach = None
    if counts.reached is not None and counts.measured_at is not None:
        reach = (counts.measured_at - counts.reached).total_seconds()
    return backlog_bars(counts.ages, reach)


def daily_of(counts, today):
    """The fourteen columns of a count walk's tally, to `today`."""
    reached_day = timezone.localdate(counts.reached) if counts.reached else None
    return daily_bars(per_day_from(counts.per_day), today, reached_day)


def backlog_bars(ages, reach_seconds=None):
    """The four backlog bars from the open tickets counted per bucket. `reach_seconds` is the age
    of the oldest ticket the walk reached when it stopped short of the end (capped or still
    counting): a bar reaching further back than that is only a lower bound."""
    ages = tuple(ages) + (0,) * (len(AGE_BUCKETS) - len(ages))
    return [
        Bar(
            label=label,
            spoken=spoken,
            value=int(ages[index]),
            at_least=reach_seconds is not None and (upper is None or upper > reach_seconds),
            tone=f"age-{index}",
            key=label,
        )
        for index, (upper, label, spoken) in enumerate(AGE_BUCKETS)
    ]


def daily_bars(per_day, today, reached_day=None):
    """Fourteen columns, oldest first, to `today`, from `{date: tickets created}`. When the walk
    stopped short of the end at a ticket created on `reached_day`, that day is a lower bound
    and the days before it were not counted."""
    bars = []
    for offset in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=offset)
        value, at_least = int(per_day.get(day, 0)), False
        if reached_day is not None and day <= reached_day:
            value, at_least = (value, True) if day == reached_day else (None, False)
        bars.append(
            Bar(
                label=str(day.day),
                spoken=f"{'today, ' if offset == 0 else ''}{day:%A} {day.day} {day:%B}",
                value=value,
                at_least=at_least,
                tone="today" if offset == 0 else "day",
                key=day.isoformat(),
            )
        )
    return bars


# -- Drawing --

BAR_WIDTH = 520  # the horizontal chart's drawing box, in CSS pixels at scale 1
BAR_ROW = 50
BAR_THICK = 36
BAR_LABEL = 166  # the labels' column
BAR_VALUE = 104  # room kept after the longest bar for its number

COLUMN_WIDTH = 520
COLUMN_HEIGHT = 214
COLUMN_TOP = 34  # room above the tallest column for its number
COLUMN_BOTTOM = 32  # room below the baseline for the day


def horizontal_bars(chart_id, title, bars):
    """Bars drawn left to right, each with its label before it and its number after it."""
    height = BAR_ROW * len(bars)
    room = BAR_WIDTH - BAR_LABEL - BAR_VALUE
    biggest = max((bar.value or 0 for bar in bars), default=0)
    groups = []
    for index, bar in enumerate(bars):
        top = index * BAR_ROW + (BAR_ROW - BAR_THICK) / 2
        middle = index * BAR_ROW + BAR_ROW / 2
        length = room * (bar.value or 0) / biggest if biggest else 0
        groups.append(
            _group(
                bar,
                _text("chart-label", BAR_LABEL - 14, middle, bar.label, "end"),
                _rect(f"chart-bar bar-{bar.tone}", BAR_LABEL, top, length, BAR_THICK),
                _text("chart-value", BAR_LABEL + length + 10, middle, bar.shown),
            )
        )
    return _svg(chart_id, title, bars, BAR_WIDTH, height, groups)


def columns(chart_id, title, bars):
    """Columns drawn bottom up, each with its number above it and its label below the line."""
    slot = COLUMN_WIDTH / max(len(bars), 1)
    thick = slot * 0.72
    baseline = COLUMN_HEIGHT - COLUMN_BOTTOM
    room = baseline - COLUMN_TOP
    biggest = max((bar.value or 0 for bar in bars), default=0)
    groups = []
    for index, bar in enumerate(bars):
        centre = index * slot + slot / 2
        length = room * (bar.value or 0) / biggest if biggest else 0
        top = baseline - length
        groups.append(
            _group(
                bar,
                _rect(f"chart-bar bar-{bar.tone}", centre - thick / 2, top, thick, length),
                _text("chart-value chart-value-small", centre, top - 10, bar.shown, "middle"),
                _text(f"chart-day label-{bar.tone}", centre, baseline + 22, bar.label, "middle"),
            )
        )
    axis = {"x1": _n(0), "y1": _n(baseline), "x2": _n(COLUMN_WIDTH), "y2": _n(baseline)}
    return _svg(chart_id, title, bars, COLUMN_WIDTH, COLUMN_HEIGHT, groups, axis)


def describe(title, bars):
    """The chart in words, every number included: what a screen reader says for it."""
    return f"{title}. " + "; ".join(bar.said for bar in bars) + "."


def _svg(chart_id, title, bars, width, height, groups, axis=None):
    """The chart's markup, written by its template (the template escapes every word)."""
    return render_to_string(
        "dashboard/_chart.svg",
        {
            "id": chart_id,
            "title": title,
            "description": describe(title, bars),
            "width": _n(width),
            "height": _n(height),
            "axis": axis,
            "groups": groups,
        },
    )


def _group(bar, *shapes):
    return {"key": bar.key or bar.label, "shapes": shapes}


def _rect(classes, x, y, width, height):
    return {"classes": classes, "x": _n(x), "y": _n(y),
            "width": _n(max(width, 0)), "height": _n(max(height, 0))}  # fmt: skip


def _text(classes, x, y, words, anchor="start"):
    return {"classes": classes, "x": _n(x), "y": _n(y), "text": words, "anchor": anchor}


def _n(number):
    """A coordinate: always a plain decimal number, never text from elsewhere."""
    return f"{float(number):.1f}".removesuffix(".0")


def per_day_from(items):
    """`{date: n}` from the (ISO date, n) pairs a count keeps in the cache."""
    return {date.fromisoformat(day): int(n) for day, n in items}
