"""Identifying details found in a ticket's text, shown to staff on the ticket.

The guide asks customers for "domain name, mailbox address, invoice ID, error timestamps";
staff should not have to hunt for them in a long message. Extraction is regex-based and
conservative: a three-digit number is only an SMTP code when it looks like one (an enhanced
status code such as ``5.7.1`` follows, or the words around it say it is an SMTP reply), and
file names such as ``error.png`` are not domains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_MAILBOX_RE = re.compile(
    r"(?<![\w.+-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,24}\b",
    re.IGNORECASE,
)
_DOMAIN_RE = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b(?![.-]?\w)",
    re.IGNORECASE,
)
_NOT_TLDS = frozenset(
    """png jpg jpeg gif webp bmp svg pdf eml msg csv txt log doc docx xls xlsx ppt pptx zip
    rar gz tar exe dmg js json html htm php py md xml yaml yml ini cfg conf""".split()
)
_INVOICE_RE = re.compile(
    r"\bINV[-_ ]?\d[\dA-Z-]*\d\b"
    r"|(?<=invoice)\s*(?:#|no\.?|nr\.?|number|id)?\s*:?\s*#?(?P<bare>\d[\d-]{3,}\d)\b",
    re.IGNORECASE,
)
_ENHANCED = r"[45]\.\d{1,3}\.\d{1,3}"
_SMTP_WITH_ENHANCED_RE = re.compile(
    rf"(?<![\d.])(?:(?P<basic>[245]\d\d)[ -])?(?P<enhanced>{_ENHANCED})(?![\d.]*\d)"
)
_SMTP_BASIC_RE = re.compile(r"(?<![\d.:/-])(?P<basic>[45][0-5]\d)(?![\d.:/-]*\d)")
# A bare three-digit number is an SMTP code only after words like these ("error 421").
_SMTP_CONTEXT_RE = re.compile(
    r"smtp|bounce|reject|refused|deferr|relay|deliver|mail server|error|code|repl(?:y|ied)"
    r"|respon|said|says",
    re.IGNORECASE,
)
_HTTP_CONTEXT_RE = re.compile(r"\bapi\b|http|endpoint|rest\b|status code|/v\d", re.IGNORECASE)

_ZONE = (
    r"(?:\s?(?:UTC|GMT|Z|CET|CEST|EET|EEST|WET|BST|IST|EST|EDT|CST|CDT|MST|MDT|PST|PDT"
    r"|AEST|JST|[+-]\d{2}:?\d{2}))"
)
_TIME = (
    rf"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?[ap]\.?m\.?)?{_ZONE}?"
    rf"|(?:1[0-2]|0?[1-9])\s?[ap]\.?m\.?{_ZONE}?"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = (
    r"\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}[./]\d{1,2}[./]\d{2,4}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\.?(?:\s+\d{{4}})?"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
)
_TIMESTAMP_RE = re.compile(
    rf"(?<![\w:.])(?:"
    rf"\d{{4}}-\d{{2}}-\d{{2}}[T ](?:{_TIME})"  # ISO date and time
    rf"|(?:{_TIME})\s+(?:on\s+)?(?:{_DATE})"  # 14:30 UTC on 2026-05-15
    rf"|(?:{_DATE}),?\s+(?:at\s+)?(?:{_TIME})"  # 2026-05-15 at 14:30
    rf"|{_DATE}"
    rf"|{_TIME}"
    rf")(?![\w:])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TicketDetails:
    """What a ticket's text names: each list in order of first mention, without repeats."""

    domains: list[str] = field(default_factory=list)
    mailboxes: list[str] = field(default_factory=list)
    invoice_ids: list[str] = field(default_factory=list)
    smtp_codes: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.domains or self.mailboxes or self.invoice_ids or self.smtp_codes or self.timestamps
        )


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def extract_details(text: str) -> TicketDetails:
    """Domains, mailbox addresses, invoice IDs, SMTP status codes and timestamps in ``text``.

    Domains are those written on their own; a mailbox's domain is not repeated as a domain.
    """
    mailboxes = _unique([m.group(0).lower() for m in _MAILBOX_RE.finditer(text)])
    rest = _MAILBOX_RE.sub(" ", text)
    rest = re.sub(r"https?://", " ", rest)
    domains = _unique(
        [
            m.group(0).lower()
            for m in _DOMAIN_RE.finditer(rest)
            if m.group(0).rsplit(".", 1)[1].lower() not in _NOT_TLDS
            and not m.group(0).replace(".", "").isdigit()
        ]
    )

    invoices: list[str] = []
    for match in _INVOICE_RE.finditer(text):
        bare = match.group("bare")
        invoices.append(bare if bare else match.group(0).upper().replace(" ", "-"))

    codes: list[str] = []
    for match in _SMTP_WITH_ENHANCED_RE.finditer(text):
        basic, enhanced = match.group("basic"), match.group("enhanced")
        codes.append(f"{basic} {enhanced}" if basic else enhanced)
    without_enhanced = _SMTP_WITH_ENHANCED_RE.sub(" ", text)
    for match in _SMTP_BASIC_RE.finditer(without_enhanced):
        before = without_enhanced[max(0, match.start() - 25) : match.start()]
        if _SMTP_CONTEXT_RE.search(before) and not _HTTP_CONTEXT_RE.search(before):
            codes.append(match.group("basic"))

    # Dates inside invoice IDs or addresses are not timestamps.
    plain = _INVOICE_RE.sub(" ", _MAILBOX_RE.sub(" ", text))
    timestamps = [
        re.sub(r"\s+", " ", m.group(0)).strip().rstrip(".")  # not the sentence's full stop
        for m in _TIMESTAMP_RE.finditer(plain)
    ]
    return TicketDetails(
        domains=domains,
        mailboxes=mailboxes,
        invoice_ids=_unique(invoices),
        smtp_codes=_unique(codes),
        timestamps=_unique(timestamps),
    )
