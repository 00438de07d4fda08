"""Pure parts of the Discord adapter: splitting at Discord's limit, internal-note rules, and
joining the form's two message inputs."""

from __future__ import annotations

import pytest

from adapters.discord.forms import join_inputs, split_for_inputs
from adapters.discord.notes import judge
from adapters.discord.text import MESSAGE_LIMIT, no_mentions, split_message


@pytest.mark.parametrize("text", [
    "x" * 5000,
    "word " * 1000,
    "para one\n\n" * 300,
    "a" * 1999,
    "",
])
def test_split_message_loses_no_character_and_respects_the_limit(text: str) -> None:
    prefix = "**Sam** (support team):\n"
    parts = split_message(text, prefix=prefix)
    assert "".join(parts) == prefix + text
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert parts[0].startswith(prefix)


def test_a_5000_character_text_takes_three_messages() -> None:
    assert len(split_message("y" * 5000, prefix="**Alice**:\n")) == 3


def test_mentions_are_never_allowed() -> None:
    assert dict(no_mentions().to_dict()) == {"parse": []}


@pytest.mark.parametrize(("text", "body"), [
    ("note: check the logs", "check the logs"),
    ("Note - refund on hold", "refund on hold"),
    ("**Internal:** he is angry", "he is angry"),
    ("[note] ask finance", "ask finance"),
    ("> staff only: not for the customer", "not for the customer"),
    ("(private) VIP", "VIP"),
])
def test_note_markers_keep_a_message_internal(text: str, body: str) -> None:
    verdict = judge(text)
    assert verdict.internal and verdict.body == body


def test_addressing_a_colleague_or_answering_a_note_stays_internal() -> None:
    assert judge("<@123> can you check?").internal
    assert judge("<@&456> anyone?").internal
    assert judge("sure, I'll do it", replying_to_internal=True).internal


@pytest.mark.parametrize("text", [
    "Note that your DNS record needs a dot at the end.",
    "Notes from our call are below.",
    "Thanks @sam mentioned this.",
    "We are looking into it.",
])
def test_ordinary_answers_are_relayed(text: str) -> None:
    assert not judge(text).internal


def test_the_two_form_inputs_join_back_into_one_message() -> None:
    message = "z" * 4000 + "tail"
    first, more = split_for_inputs(message, 4000)
    assert join_inputs(first, more, 4000) == message
    assert join_inputs("short start", "and more", 4000) == "short start\nand more"
    assert join_inputs("only this", "  ", 4000) == "only this"
