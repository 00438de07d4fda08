"""The pure rules: limits, text hygiene, priority, urgency, status machine, secrets, images."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from core.models import Category, Status
from core.rules.attachments import check_image, sniff_image_type
from core.rules.limits import Limits, check_body, check_category, check_subject
from core.rules.priority import is_urgent
from core.rules.secrets import SecretKind, find_secrets, redact
from core.rules.status import Event, next_status
from core.rules.text import clean, split_text

LIMITS = Limits()


def png(width: int = 4, height: int = 4) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def image_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, fmt)
    return buf.getvalue()


# ---- text -------------------------------------------------------------------------------------


def test_clean_removes_invisible_and_control_characters_but_keeps_newlines() -> None:
    assert clean("\u200b\u202eHello\u0007\nworld\ufeff  ") == "Hello\nworld"


@pytest.mark.parametrize("limit", [1, 7, 50, 2000])
def test_split_text_never_loses_a_character_and_respects_the_limit(limit: int) -> None:
    text = ("word " * 300 + "\n\n" + "x" * 4500 + "\nend") * 2
    chunks = split_text(text, limit)
    assert "".join(chunks) == text
    assert all(len(c) <= limit for c in chunks)


def test_split_text_prefers_paragraph_boundaries() -> None:
    text = "a" * 60 + "\n\n" + "b" * 60
    assert split_text(text, 100) == ["a" * 60 + "\n\n", "b" * 60]


# ---- limits -----------------------------------------------------------------------------------


def test_subject_limits_count_after_trimming() -> None:
    assert check_subject("   abc   ", LIMITS)[1] is not None
    assert check_subject("abcd", LIMITS)[1] is None
    assert check_subject("x" * 150, LIMITS)[1] is None
    err = check_subject("x" * 151, LIMITS)[1]
    assert err is not None and "at most 150" in err.message and err.field == "subject"


def test_invisible_characters_alone_do_not_make_a_subject() -> None:
    err = check_subject("\u200b\u200b\u200b\u200b\u200b \u2060", LIMITS)[1]
    assert err is not None and err.field == "subject"


def test_message_limits_name_the_field_and_the_limit() -> None:
    err = check_body("hi", LIMITS)[1]
    assert err is not None and err.field == "message" and "at least 5" in err.message
    assert check_body("x" * 5000, LIMITS)[1] is None
    err = check_body("x" * 5001, LIMITS)[1]
    assert err is not None and "at most 5000" in err.message
    err = check_body("ok", LIMITS, "reply")[1]
    assert err is not None and err.field == "reply" and "reply" in err.message


def test_unknown_category_lists_the_choices() -> None:
    cat, err = check_category("Billing ")
    assert cat is Category.BILLING and err is None
    _, err = check_category("Refunds")
    assert err is not None and "Billing" in err.message and "Other" in err.message


# ---- priority -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "urgent"),
    [
        ("URGENT: cannot send", True),
        ("blocking launch tomorrow", True),
        ("Login Blocking everyone!", True),
        ("not urgent: question about invoices", False),
        ("Non-blocking question", False),
        ("urgently needed feature", False),
        ("Unblocking our domain", False),
    ],
)
def test_urgent_words_in_subject(subject: str, urgent: bool) -> None:
    assert is_urgent(subject) is urgent


# ---- status machine --------------------------------------------------------------------------

NOW = datetime(2026, 5, 20, tzinfo=UTC)
WINDOW = timedelta(days=7)


def test_staff_reply_waits_on_customer_and_customer_reply_opens() -> None:
    t = next_status(Status.OPEN, Event.STAFF_REPLY, closed_at=None, now=NOW, reopen_window=WINDOW)
    assert t.new_status is Status.WAITING_ON_CUSTOMER
    t = next_status(
        Status.WAITING_ON_CUSTOMER,
        Event.CUSTOMER_REPLY,
        closed_at=None,
        now=NOW,
        reopen_window=WINDOW,
    )
    assert t.new_status is Status.OPEN and not t.reopened


def test_customer_reply_reopens_within_window_and_is_refused_after() -> None:
    inside = next_status(
        Status.CLOSED,
        Event.CUSTOMER_REPLY,
        closed_at=NOW - timedelta(days=6),
        now=NOW,
        reopen_window=WINDOW,
    )
    assert inside.new_status is Status.OPEN and inside.reopened
    after = next_status(
        Status.CLOSED,
        Event.CUSTOMER_REPLY,
        closed_at=NOW - timedelta(days=8),
        now=NOW,
        reopen_window=WINDOW,
    )
    assert after.refused and after.new_status is Status.CLOSED


def test_internal_note_changes_nothing() -> None:
    for status in Status:
        t = next_status(status, Event.INTERNAL_NOTE, closed_at=None, now=NOW, reopen_window=WINDOW)
        assert t.new_status is status


# ---- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my password is Hunter2!", SecretKind.PASSWORD),
        ("login alice@x.com password: sunshine", SecretKind.PASSWORD),
        ('the new pw is "correct horse"', SecretKind.PASSWORD),
        ("2FA secret: JBSW Y3DP EHPK 3PXP", SecretKind.TWO_FACTOR),
        ("otpauth://totp/TrekMail:alice?secret=JBSWY3DPEHPK3PXP", SecretKind.TWO_FACTOR),
        ("my recovery codes are 1234-5678 9876-5432", SecretKind.TWO_FACTOR),
        ("api key: tm_live_9f8e7d6c5b4a39281716", SecretKind.API_KEY),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", SecretKind.API_KEY),
        ("our key is sk_live_abcdefghijklmnop1234", SecretKind.API_KEY),
    ],
)
def test_secrets_are_found(text: str, kind: SecretKind) -> None:
    found = find_secrets(text)
    assert [f.kind for f in found] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "I tried changing the mailbox password",
        "the password is wrong every time",
        "Password reset link doesn't arrive",
        "I lost my recovery codes and my phone",
        "API returns 401 with my API key",
        "2FA code never arrives by SMS",
    ],
)
def test_talking_about_secrets_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


def test_redact_removes_only_the_secret() -> None:
    text, found = redact("Hi, my password is Hunter2! and it fails")
    assert "Hunter2" not in text and text.startswith("Hi, my password is [password removed]")
    assert found


# ---- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "ctype"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_real_images_are_accepted_and_typed_by_bytes(fmt: str, ctype: str) -> None:
    data = image_bytes(fmt)
    checked, err = check_image("screenshot.txt", data, LIMITS.attachment_max_bytes)
    assert err is None and checked is not None
    assert checked.content_type == ctype and sniff_image_type(data) == ctype
    assert not checked.filename.endswith(".txt")


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("invoice.pdf", b"%PDF-1.7\n...", "PDF"),
        ("shot.png", b"<html><body>hi</body></html>", "HTML"),
        ("shot.png", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        ("mail.eml", b"Received: from x\r\nFrom: a@b\r\n", "email"),
        ("data.csv", b"a,b,c\n1,2,3\n", "CSV"),
    ],
)
def test_non_images_get_the_paste_as_text_advice(name: str, data: bytes, says: str) -> None:
    checked, err = check_image(name, data, LIMITS.attachment_max_bytes)
    assert checked is None and err is not None
    assert says in err.message and "paste the relevant excerpt as text" in err.message


def test_truncated_image_is_refused() -> None:
    data = image_bytes("PNG")
    _, err = check_image("cut.png", data[: len(data) // 2], LIMITS.attachment_max_bytes)
    assert err is not None and "damaged" in err.message


def test_size_limit_is_exact() -> None:
    data = png()
    ok, err = check_image("a.png", data, len(data))
    assert err is None and ok is not None
    _, err = check_image("a.png", data, len(data) - 1)
    assert err is not None and "at most" in err.message


def test_decompression_bomb_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("1", (10000, 10000)).save(buf, "PNG")  # 100 Mpx, a few kB on disk
    _, err = check_image("bomb.png", buf.getvalue(), LIMITS.attachment_max_bytes)
    assert err is not None and "pixels" in err.message
