"""The rule that keeps staff talk internal, shared by every platform."""

from __future__ import annotations

import pytest

from core.rules.notes import judge


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("note: check the logs first", "check the logs first"),
        ("*Internal:* refund approved by finance", "refund approved by finance"),
        ("&gt; staff only - do not promise a date", "do not promise a date"),
        ("[note] greylisting again", "greylisting again"),
        ("PRIVATE NOTE: customer is angry", "customer is angry"),
    ],
)
def test_note_markers_keep_a_message_internal_and_are_stripped(text: str, body: str) -> None:
    verdict = judge(text)
    assert verdict.internal and verdict.body == body


@pytest.mark.parametrize("text", ["Noted, we will fix it today.", "Internally we use DKIM keys",
                                  "Here is a note for you: restart the app"])
def test_ordinary_answers_are_relayed(text: str) -> None:
    assert not judge(text).internal


def test_mentions_and_replies_to_notes_stay_internal() -> None:
    assert judge("can you check?", opens_with_mention=True).reason == "addressed to a colleague"
    assert judge("agreed", replying_to_internal=True).internal
