"""Where a page's milliseconds went, in a `Server-Timing` header that the browser's tools show
and `make bench` tables.

`server_timing`, the outermost middleware, notes when Django began the request; a view marks
each moment it passes (`mark(request, "frame")`); the header gives each part, in milliseconds
since the mark before it, then `response` (from the view's last mark until the response leaves
the middleware) and `total`. Only the pages that mark anything carry it.
"""

import itertools
import time


def mark(request, name):
    """The part `name` of `request`'s page ends now."""
    marks = getattr(request, "timing_marks", None)
    if marks is not None:
        marks.append((name, time.perf_counter()))


def server_timing(get_response):
    def middleware(request):
        request.timing_marks = [("start", time.perf_counter())]
        response = get_response(request)
        marks = request.timing_marks
        if len(marks) > 1:
            marks.append(("response", time.perf_counter()))
            response["Server-Timing"] = header(marks)
        return response

    return middleware


def header(marks):
    """`name;dur=ms` for each part between `marks` (`(name, perf_counter)`), then the total."""
    parts = [
        f"{name};dur={(at - before) * 1000:.1f}"
        for (_, before), (name, at) in itertools.pairwise(marks)
    ]
    return ", ".join([*parts, f"total;dur={(marks[-1][1] - marks[0][1]) * 1000:.1f}"])
