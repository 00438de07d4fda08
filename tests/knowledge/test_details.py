"""Details staff see on a ticket: domains, mailboxes, invoice IDs, SMTP codes, timestamps."""

from __future__ import annotations

from core.knowledge import extract_details

GOOD_MESSAGE = (
    "Trying to send an email from alice@mycompany.com via Outlook on Mac. Get \"550 5.7.1 "
    "sender denied\" on every send attempt as of yesterday afternoon. Other mailboxes on the "
    "same domain send fine. I've checked: DNS is all green, mailbox isn't paused (I can log "
    "into webmail with the same credentials), and I tried changing the mailbox password. "
    "Screenshot of the Outlook error attached. Domain: mycompany.com. Mailbox: "
    "alice@mycompany.com. Started: ~14:30 UTC on 2026-05-15."
)


def test_guide_example_details() -> None:
    details = extract_details(GOOD_MESSAGE)
    assert details.mailboxes == ["alice@mycompany.com"]
    assert details.domains == ["mycompany.com"]
    assert details.smtp_codes == ["550 5.7.1"]
    assert details.timestamps == ["14:30 UTC on 2026-05-15"]
    assert details.invoice_ids == []
    assert not details.is_empty


def test_invoice_ids_keep_their_digits_apart() -> None:
    details = extract_details("Refund INV-2024-0415 not INV-2024-0451; also invoice #778812")
    assert details.invoice_ids == ["INV-2024-0415", "INV-2024-0451", "778812"]


def test_domains_are_not_file_names_or_addresses() -> None:
    details = extract_details(
        "bakery.de and bakery.com, see screenshot.png and log.txt, mail anna@bakery.de, "
        "status at https://status.trekmail.net/incidents"
    )
    assert details.domains == ["bakery.de", "bakery.com", "status.trekmail.net"]
    assert details.mailboxes == ["anna@bakery.de"]


def test_three_digit_numbers_are_smtp_codes_only_in_context() -> None:
    assert extract_details("Bounce with error 421 then 554").smtp_codes == ["421", "554"]
    assert extract_details("the server replied 550 mailbox unavailable").smtp_codes == ["550"]
    assert extract_details("We have 450 mailboxes and sent 500 emails").smtp_codes == []
    assert extract_details("The API returns 401 error").smtp_codes == []
    assert extract_details("Rejected: 5.7.26 unauthenticated").smtp_codes == ["5.7.26"]
    assert extract_details("Outlook version 1.2.3").smtp_codes == []


def test_timestamps_in_common_forms() -> None:
    details = extract_details(
        "First at 2026-05-15T14:30Z, again 15 May 2026 at 9:05 CET, and May 16 around 3pm."
    )
    assert details.timestamps == ["2026-05-15T14:30Z", "15 May 2026 at 9:05 CET", "May 16",
                                  "3pm"]


def test_plain_complaint_has_no_details() -> None:
    details = extract_details("Outlook doesn't work, please help.")
    assert details.is_empty
    assert details.domains == details.mailboxes == details.timestamps == []
