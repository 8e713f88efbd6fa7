"""Quoted text in a comment: what the person wrote, apart from the earlier messages their mail
client quoted under it (or between its paragraphs), so that a thread can fold those away.

Only plain text is read here, and nothing is dropped: every line of the body is in exactly one
part, in order, and the template escapes each part.

Quoted, each as a whole block:
- `>` lines (a `>` at the start of a line, after any indent), with the blank lines between them,
  and the attribution just above them ("On Mon, 5 Jan 2026 at 10:00, Anna <a@b.c> wrote:",
  which mail clients may wrap over two or three lines; a few other languages too);
- trailing history: from "-----Original Message-----", or an Outlook header block ("From: …"
  followed by "Sent: …" or "Date: …" within a few lines), to the end of the body.

A body that is nothing but quotes has nothing to fold them away from: it is one plain part.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    text: str
    quoted: bool = False


QUOTE_LINE = re.compile(r"^[ \t]*>")

# The first word of an attribution line, and its verb before the colon at its end ("Am …
# schrieb Anna <a@b.c>:"), in the languages mail clients write it in most often.
ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|em|op|il|den|w dniu)\s", re.IGNORECASE)
ATTRIBUTION_END = re.compile(
    r"\b(wrote|schrieb|a écrit|escribió|escreveu|schreef|ha scritto|skrev|napisał)\b.*:\s*$",
    re.IGNORECASE,
)
ATTRIBUTION_LINES = 3  # at most, once a client has wrapped it

ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
HEADER_FROM = re.compile(r"^\s*\*?from:\*?\s", re.IGNORECASE)
HEADER_SENT = re.compile(r"^\s*\*?(sent|date):\*?\s", re.IGNORECASE)
OUTLOOK_RULE = re.compile(r"^\s*_{10,}\s*$")
HEADER_LINES = 4  # "Sent:" or "Date:" within this many lines under "From:"


def split(body):
    """The parts of `body`, in order: `Part(text, quoted)`."""
    lines = (body or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    quoted = [False] * len(lines)
    history = _history_start(lines)
    for index in range(history, len(lines)):
        quoted[index] = True
    _mark_quote_blocks(lines[:history], quoted)
    parts = _parts(lines, quoted)
    if not any(not part.quoted for part in parts):
        text = _trimmed(lines)
        return (Part(text),) if text else ()
    return tuple(parts)


def _history_start(lines):
    """Where trailing quoted history starts, or `len(lines)` when there is none."""
    for index, line in enumerate(lines):
        if ORIGINAL_MESSAGE.match(line):
            return index
        if HEADER_FROM.match(line) and _sent_follows(lines, index):
            # Outlook draws a rule of underscores above its header block.
            above = _previous_text_line(lines, index)
            return above if above is not None and OUTLOOK_RULE.match(lines[above]) else index
    return len(lines)


def _sent_follows(lines, index):
    following = lines[index + 1 : index + 1 + HEADER_LINES]
    return any(HEADER_SENT.match(line) for line in following)


def _previous_text_line(lines, index):
    index -= 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    return index if index >= 0 else None


def _mark_quote_blocks(lines, quoted):
    """Mark each block of `>` lines (with the blank lines inside it) and its attribution."""
    block_start = last_quote = None
    for index, line in enumerate(lines):
        if QUOTE_LINE.match(line):
            if block_start is None:
                block_start = last_quote = index
            # Blank lines between two quoted lines belong to the quote.
            for between in range(last_quote, index + 1):
                quoted[between] = True
            last_quote = index
        elif line.strip() and block_start is not None:
            _mark_attribution(lines, block_start, quoted)
            block_start = None
    if block_start is not None:
        _mark_attribution(lines, block_start, quoted)


def _mark_attribution(lines, block_start, quoted):
    """Mark the attribution line(s) just above the quote block starting at `block_start`."""
    end = _previous_text_line(lines, block_start)
    if end is None or quoted[end] or not ATTRIBUTION_END.search(lines[end]):
        return
    for first in range(end, max(end - ATTRIBUTION_LINES, -1), -1):
        if not lines[first].strip() or quoted[first]:
            return
        if ATTRIBUTION_START.match(lines[first]):
            for index in range(first, block_start):
                quoted[index] = True
            return


def _parts(lines, quoted):
    parts, start = [], 0
    for index in range(1, len(lines) + 1):
        if index == len(lines) or quoted[index] != quoted[start]:
            text = _trimmed(lines[start:index])
            if text:
                parts.append(Part(text, quoted[start]))
            start = index
    return parts


def _trimmed(lines):
    """The lines as text, without the blank lines around them (indents kept)."""
    kept = [index for index, line in enumerate(lines) if line.strip()]
    return "\n".join(lines[kept[0] : kept[-1] + 1]) if kept else ""
