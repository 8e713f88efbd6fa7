"""People's and the store's words kept to themselves, whatever direction they are written in.

A name, a subject or a view's name may be Arabic or Hebrew, or carry the Unicode controls
that reorder text (a first name `\\u202eolleh` is "hello" written backwards with RIGHT-TO-LEFT
OVERRIDE). Left beside other text, such a piece reorders it: the e-mail next to the name reads
backwards, "team · Status: New" becomes "weN :sutatS · maet". So every such piece is
*isolated*: its direction and controls end where it ends.

- In HTML, a piece beside other text is a `<bdi>` (`bdi()` here, the `bdi` template filter),
  or it is the only text of a block with `dir="auto"`, whose direction ends with the block.
- In a sentence written in Python (a form's error, a message), the piece is put between
  FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (`isolate()`), the same isolation as text.
- In a page's `<title>`, which has no markup and is shown by the browser's tab strip, window
  lists, history and bookmarks, where isolates are not all understood (some show them as
  boxes), every control is removed (`plain()`): strong letters still read in their own
  direction, and nothing reorders past its piece.

An isolate holds its piece only as long as nothing inside closes it early, and one character
can: a POP DIRECTIONAL ISOLATE with no isolate of its own to close ends the enclosing one, the
`<bdi>` included, and whatever follows it in the piece leaks out again (seen in Chromium). So
every isolated piece first loses such strays (`contained()`); the rest of its controls, held
inside, are its own business.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

LRE, RLE, PDF, LRO, RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
LRM, RLM, ALM = "\u200e", "\u200f", "\u061c"

OPENS_ISOLATE = frozenset((LRI, RLI, FSI))
CONTROLS = frozenset((LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM))
_STRIPPED = str.maketrans(dict.fromkeys(CONTROLS))


def contained(text) -> str:
    """`text` without the isolate-closing characters that close no isolate of its own."""
    text = str(text)
    if PDI not in text:
        return text
    kept, depth = [], 0
    for char in text:
        if char in OPENS_ISOLATE:
            depth += 1
        elif char == PDI:
            if not depth:
                continue
            depth -= 1
        kept.append(char)
    return "".join(kept)


def isolate(text) -> str:
    """`text` as one isolated piece of a plain-text sentence."""
    return f"{FSI}{contained(text)}{PDI}"


def bdi(text) -> SafeString:
    """`text` escaped, in a `<bdi>`: one isolated piece of a page, its direction its own."""
    return mark_safe(f"<bdi>{escape(contained(text))}</bdi>")  # escaped even if marked safe


def plain(text) -> str:
    """`text` without any of the controls that reorder text, for a page's `<title>`."""
    return str(text).translate(_STRIPPED)
