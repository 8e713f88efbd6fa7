"""Quoted text in comments, split from what the person wrote: a pure function, no store."""

from dashboard.tickets.quotes import Part, split


def joined(parts):
    """Every line of every part, in order: nothing may be dropped."""
    return [line for part in parts for line in part.text.split("\n") if line.strip()]


def nonblank(body):
    return [line for line in body.split("\n") if line.strip()]


def test_an_attribution_and_its_quoted_lines_are_one_quote():
    body = (
        "Thanks, that worked.\n"
        "\n"
        "On Mon, 5 Jan 2026 at 10:00, Anna <a@b.c> wrote:\n"
        "> Could you try turning it off and on again?\n"
        ">\n"
        "> Anna"
    )
    assert split(body) == (
        Part("Thanks, that worked."),
        Part(
            "On Mon, 5 Jan 2026 at 10:00, Anna <a@b.c> wrote:\n"
            "> Could you try turning it off and on again?\n>\n> Anna",
            quoted=True,
        ),
    )


def test_an_attribution_wrapped_over_two_lines_is_part_of_the_quote():
    body = (
        "Still broken.\n\nOn Mon, 5 Jan 2026 at 10:00, Anna from Acme <\nsupport@acme.test> wrote:"
        "\n\n> Try again."
    )
    parts = split(body)
    assert parts[0] == Part("Still broken.")
    assert parts[1].quoted and parts[1].text.startswith("On Mon, 5 Jan 2026")
    assert len(parts) == 2


def test_quoted_lines_without_an_attribution_are_a_quote():
    body = "> Where is my order?\n> It was due Friday.\n\nIt ships today."
    assert split(body) == (
        Part("> Where is my order?\n> It was due Friday.", quoted=True),
        Part("It ships today."),
    )


def test_answers_between_quotes_stay_in_place():
    body = "> First question?\nFirst answer.\n\n> Second question?\n\nSecond answer."
    assert [(p.quoted, p.text) for p in split(body)] == [
        (True, "> First question?"),
        (False, "First answer."),
        (True, "> Second question?"),
        (False, "Second answer."),
    ]


def test_trailing_original_message_history_is_a_quote():
    body = (
        "Please see below.\n\n"
        "-----Original Message-----\n"
        "From: Anna <a@b.c>\n"
        "Sent: Monday, January 5, 2026 10:00 AM\n"
        "To: Support\n"
        "Subject: Refund\n\n"
        "Where is my refund?"
    )
    parts = split(body)
    assert parts[0] == Part("Please see below.")
    assert parts[1].quoted and parts[1].text.startswith("-----Original Message-----")
    assert parts[1].text.endswith("Where is my refund?")
    assert len(parts) == 2


def test_an_outlook_header_block_starts_trailing_history():
    body = (
        "Any news?\n\n"
        "________________________________\n"
        "From: Support <support@acme.test>\n"
        "Sent: 5 January 2026 10:00\n"
        "Subject: Re: Refund\n\n"
        "We are on it.\n"
        "> and an older quote inside the history"
    )
    parts = split(body)
    assert parts == (
        Part("Any news?"),
        Part(body.split("\n\n", 1)[1], quoted=True),
    )


def test_a_body_that_is_only_a_quote_is_shown_as_it_is():
    body = "On Mon, 5 Jan 2026 at 10:00, Anna <a@b.c> wrote:\n> Hello?\n"
    assert split(body) == (Part(body.strip()),)


def test_a_greater_than_sign_inside_a_sentence_is_not_a_quote():
    body = "The total was > 100 EUR, and 3 > 2.\nPlease check -> thanks"
    assert split(body) == (Part(body),)


def test_from_without_a_sent_line_is_not_history():
    body = "From: what I can tell, the parcel is lost.\nCan you resend it?"
    assert split(body) == (Part(body),)


def test_a_line_saying_wrote_without_quotes_under_it_is_not_folded():
    body = "On Monday my colleague wrote:\nthe order number is 1001."
    assert split(body) == (Part(body),)


def test_attributions_in_other_languages_are_recognised():
    for attribution in (
        "Am 05.01.2026 um 10:00 schrieb Anna <a@b.c>:",
        "Le lun. 5 janv. 2026 à 10:00, Anna <a@b.c> a écrit :",
        "El lun, 5 ene 2026 a las 10:00, Anna (<a@b.c>) escribió:",
    ):
        parts = split(f"Danke.\n\n{attribution}\n> Hallo")
        assert parts == (Part("Danke."), Part(f"{attribution}\n> Hallo", quoted=True))


def test_nothing_is_dropped_and_empty_bodies_have_no_parts():
    body = "Hi\r\n\r\nOn Tue, Anna wrote:\r\n> a\r\n>\r\n> b\r\n\r\nBye\r\n-- \r\nSam"
    assert joined(split(body)) == nonblank(body.replace("\r\n", "\n"))
    assert split("") == () and split(None) == () and split(" \n\n ") == ()
