"""Duplicate detection: the labelled targets and the cases the issue names."""

from __future__ import annotations

import pytest

from core.knowledge import find_duplicate

from .conftest import read_cases

CASES = read_cases("duplicate_cases.jsonl")

OPEN = [
    (11, "DNS not verifying after 24 hours"),
    (12, "Refund for invoice INV-2024-0415"),
    (13, "SPF failing for bakery.de"),
    (14, "Mailbox anna@bakery.de can't receive emails"),
]


def test_labelled_set_is_large_and_split() -> None:
    assert len(CASES) >= 100
    assert {c["split"] for c in CASES} == {"train", "dev"}
    assert sum(c["expected"] is None for c in CASES) >= 30


@pytest.mark.parametrize("split", ["train", "dev"])
def test_precision_and_recall_on_the_labelled_set(split: str) -> None:
    true_pos = false_pos = false_neg = 0
    for case in (c for c in CASES if c["split"] == split):
        match = find_duplicate(case["subject"], [tuple(t) for t in case["open_tickets"]])
        got = match.ticket_id if match else None
        if case["expected"] is not None and got == case["expected"]:
            true_pos += 1
            continue
        if got is not None:
            false_pos += 1
        if case["expected"] is not None:
            false_neg += 1
    assert true_pos / (true_pos + false_pos) >= 0.95
    assert true_pos / (true_pos + false_neg) >= 0.90


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("URGENT: DNS not verifying after 24 hours", 11),
        ("BLOCKING - dns not verifying after 24h", 11),
        ("Re: DNS not verifying after 24 hours", 11),
        ("after 24 hours dns still not verifying", 11),  # reordered
        ("DNS not verifing after 24 hours", 11),  # typo
        ("refund invoice INV-2024-0415", 12),  # shorter
        ("Refund for invoice INV-2024-0415, charged in April, card ending 4242", 12),  # detail
        ("bakery.de SPF record check fails", 13),
    ],
)
def test_same_problem_is_a_duplicate(subject: str, expected: int) -> None:
    match = find_duplicate(subject, OPEN)
    assert match is not None and match.ticket_id == expected
    assert 0 < match.score <= 1
    assert match.subject == dict(OPEN)[expected]


@pytest.mark.parametrize(
    "subject",
    [
        "Refund for invoice INV-2024-0451",  # different invoice
        "Copy of invoice INV-2024-0415",  # different request, same object
        "SPF failing for bakery.com",  # different domain
        "DKIM failing for bakery.de",  # different record
        "Mailbox lukas@bakery.de can't receive emails",  # different mailbox
        "Help",
        "Question",
        "URGENT",
    ],
)
def test_different_or_generic_subject_is_not_a_duplicate(subject: str) -> None:
    assert find_duplicate(subject, OPEN) is None


def test_no_open_tickets_means_no_duplicate() -> None:
    assert find_duplicate("DNS not verifying after 24 hours", []) is None


def test_best_of_several_similar_tickets_wins() -> None:
    tickets = [(1, "Webmail slow"), (2, "Webmail very slow when opening attachments")]
    match = find_duplicate("webmail slow when opening attachments", tickets)
    assert match is not None and match.ticket_id == 2
