"""Advice on what a message lacks, in the guide's words."""

from __future__ import annotations

from core.knowledge import TicketPart, missing_parts

from .test_details import GOOD_MESSAGE


def test_guide_good_example_needs_no_advice() -> None:
    assert missing_parts(GOOD_MESSAGE) == []


def test_guide_good_example_as_pasted_from_the_guide_needs_no_advice() -> None:
    glued = GOOD_MESSAGE.replace("alice@mycompany.com via", "alice@mycompany.comvia").replace(
        "Domain: mycompany", "Domain:mycompany"
    )
    assert missing_parts(glued) == []


def test_guide_bad_example_lists_every_missing_part() -> None:
    assert missing_parts("Outlook doesn't work, please help.") == [
        "Say what you were trying to do — the goal, not just the error.",
        "Say what actually happened — the specific error message, status, or behaviour.",
        "Say what you've already tried — links to docs you read, settings you changed, "
        "restarts you did.",
        "Add identifying info — domain name, mailbox address, invoice ID, error timestamps. "
        "Don't share passwords or 2FA secrets in tickets.",
    ]


def test_only_the_missing_part_is_named() -> None:
    message = (
        "I'm trying to pay invoice INV-2024-0415 but the card is declined every time. "
        "I tried a second card with the same result."
    )
    assert missing_parts(message) == []
    without_tries = "I want to pay invoice INV-2024-0415 but the card is declined."
    assert missing_parts(without_tries) == [TicketPart.WHAT_YOU_TRIED.advice]
    without_ids = "Trying to pay, the card is declined. I already tried another card."
    assert missing_parts(without_ids) == [TicketPart.IDENTIFYING_INFO.advice]


def test_advice_uses_the_guide_wording() -> None:
    guide_words = ["the goal, not just the error", "specific error message, status, or behaviour",
                   "settings you changed", "Don't share passwords or 2FA secrets"]
    advice = " ".join(part.advice for part in TicketPart)
    for words in guide_words:
        assert words in advice
