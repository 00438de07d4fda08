"""Duplicate detection: does a new ticket's subject repeat one of the customer's open tickets?

A wrong "continue that one?" annoys more than a missed one, so the detector is built to be
precise first:

1. **Noise is dropped**: "Re:"/"Fwd:" prefixes, "URGENT", "BLOCKING", "ASAP", punctuation.
2. **Generic subjects never match**: "Help", "Question", "Issue" say nothing about the problem.
3. **Identifiers must agree**: when both subjects name an invoice ID, a mailbox address, a
   domain, a status code, an API path or a month, and they share none, the tickets are about
   different things (INV-2024-0415 vs INV-2024-0451, bakery.de vs bakery.com, anna@ vs lukas@).
   A subject that names no identifier of that kind is compatible ("more detail" is fine).
4. **Different requests on the same object are different**: words from mutually exclusive
   groups (SPF / DKIM / DMARC / MX, IMAP / SMTP, send / receive, refund / copy / cancel,
   plans, platforms) must not contradict each other.
5. **Word overlap decides**: canonical words (typos, inflections and synonyms folded, see
   :mod:`core.knowledge.text`) are aligned, each weighted (identifiers and distinguishing
   words heavy, filler such as "not" or "email" light). The score blends containment (the
   shorter subject is covered by the longer — a reworded subject with more detail) and Dice
   overlap, and must reach :data:`DUPLICATE_SCORE`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import OSA

from core.knowledge.text import canonical, canonical_tokens, osa_limit

DUPLICATE_SCORE = 0.72
"""Minimum similarity for a "continue that one instead?" prompt."""

MIN_CONTAINMENT = 0.66
"""The shorter subject must be at least this much covered by the other."""


@dataclass(frozen=True)
class DuplicateMatch:
    """The open ticket a new subject most likely repeats."""

    ticket_id: int
    subject: str
    score: float


_PREFIX_RE = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|tr)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_NOISE_RE = re.compile(
    r"\b(?:urgent(?:ly)?|blocking|asap|important|critical|emergency|help(?: me)?|please|pls"
    r"|very|still|again|any|anymore|since \w+|today|yesterday)\b",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b")
_DOMAIN_RE = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b")
_INVOICE_RE = re.compile(r"\binv[-\s]?\d[\d-]*\d\b|(?<=invoice )#?\d{3,}\b")
_CODE_RE = re.compile(r"(?<![\d.])(?:[1-5]\d\d|[245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_PATH_RE = re.compile(r"(?<!\w)/[a-z0-9_{}-]+(?:/[a-z0-9_{}-]+)+")
_MONTH_RE = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b"
)
_MONTHS = {m[:3]: m for m in "jan feb mar apr may jun jul aug sep oct nov dec".split()}
_FILE_SUFFIXES = frozenset("png jpg jpeg gif webp pdf eml csv txt log".split())

# Canonical words of which a subject normally names one: two subjects naming different
# members of a group are about different things.
_EXCLUSIVE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"spf", "dkim", "dmarc", "mx", "cname", "ptr"}),
    frozenset({"imap", "smtp", "pop3", "pop"}),
    frozenset({"send", "receive", "outgoing"}),
    frozenset(
        {
            "refund",
            "copy",
            "cancel",
            "upgrade",
            "downgrade",
            "restore",
            "vat",
            "transfer",
            "increase",
        }
    ),
    frozenset({"nano", "starter", "pro", "agency"}),
    frozenset({"iphone", "ipad", "android", "mac", "macos", "windows", "linux"}),
    frozenset({"webmail", "dashboard"}),
    frozenset({"add", "remove"}),
    frozenset({"enable", "disable"}),
)


# Subjects are compared after canonicalisation, so group members are canonicalised too.
def _word(surface: str) -> str:
    """The canonical word a subject uses for ``surface``: its first token ("spf" is also
    "record" to the matcher, but "spf" is what tells two subjects apart)."""
    return canonical(surface).split()[0]


_GROUP_OF: dict[str, int] = {
    _word(w): i for i, group in enumerate(_EXCLUSIVE_GROUPS) for w in group
}
# Words that mean the same in a subject, beyond the shared synonyms of core.knowledge.text
# (written as surface words, canonicalised like the subjects).
_SAME: dict[str, str] = {
    _word(word): _word(meaning)
    for word, meaning in {
        "outgoing": "send",
        "decline": "fail",
        # asking to lift a suspension is the suspension ticket
        "unblock": "suspend",
        "unsuspend": "suspend",
        "reinstate": "suspend",
        "reactivate": "suspend",
        "lift": "suspend",
        # in a subject the card is the payment: "card declined" / "payment declined"
        "card": "payment",
        # the lost 2FA "device" is the phone
        "device": "phone",
        "create": "add",
        "delete": "remove",
        "unauthorized": "auth",
        "unauthorised": "auth",
        "authentication": "auth",
        "authorization": "auth",
        "authorisation": "auth",
    }.items()
}
# Host names whose first label says what the subject is about ("imap.example.net").
_SERVICE_LABELS = frozenset({"imap", "smtp", "pop", "pop3", "mail", "webmail", "mx"})
_DURATION_RE = re.compile(r"\b(\d+)\s*(?:h|hrs?|hours?)\b|\b(\d+)\s*(?:d|days?)\b")

# Words too common in subjects to tell two problems apart (canonicalised like subjects).
_WEAK = frozenset(
    canonical(word)
    for word in """not email work issue problem error question request need want get can able
    account mailbox ticket support trekmail message return show keep say happen
    pending stuck folder recipient due""".split()
)
_DURATION_WORD_RE = re.compile(r"^\d+[hd]$")
_NON_DIGIT_RE = re.compile(r"\D+")
_GENERIC = _WEAK | frozenset(
    canonical(word) for word in "hi hello hey help support urgent thank thanks".split()
)

WEIGHT_IDENTIFIER = 2.0
WEIGHT_DISTINCTIVE = 1.5
WEIGHT_NORMAL = 1.0
WEIGHT_WEAK = 0.3

MAX_FULLY_COMPARED = 8
"""With more open tickets than this, only the closest by a fast character-level score (plus
any naming the same identifier) are compared in full."""


def _weight(word: str) -> float:
    # "after 24 hours" is detail, not a different problem
    if word in _WEAK or _DURATION_WORD_RE.match(word):
        return WEIGHT_WEAK
    if word in _GROUP_OF:
        return WEIGHT_DISTINCTIVE
    return WEIGHT_NORMAL


@dataclass(frozen=True)
class _Subject:
    """A subject reduced to what the comparison needs, computed once per subject."""

    words: frozenset[str]
    identifiers: dict[str, frozenset[str]]
    groups: dict[int, frozenset[str]]
    weight: float  # total weight of the words (identifiers are added per comparison)
    is_generic: bool
    plain: str  # lowercased, prefixes and noise removed: for the fast preselection


def _duration(match: re.Match[str]) -> str:
    """ "24 hours", "24h" and "24 hrs" are the same word."""
    hours, days = match.group(1), match.group(2)
    return f" {hours}h " if hours else f" {days}d "


@lru_cache(maxsize=4096)
def _analyse(subject: str) -> _Subject:
    text = _PREFIX_RE.sub("", subject).lower()
    identifiers: dict[str, set[str]] = {
        "mailbox": set(),
        "domain": set(),
        "invoice": set(),
        "code": set(),
        "path": set(),
        "month": set(),
    }
    # Each identifier pattern needs a marker character; most subjects have none of them.
    if "@" in text:
        for match in _EMAIL_RE.finditer(text):
            identifiers["mailbox"].add(match.group(0))
            identifiers["domain"].add(match.group(0).split("@", 1)[1])
        text = _EMAIL_RE.sub(" ", text)
    if "." in text:
        service_words: list[str] = []
        for match in _DOMAIN_RE.finditer(text):
            if match.group(0).rsplit(".", 1)[1] not in _FILE_SUFFIXES:
                identifiers["domain"].add(match.group(0))
                label = match.group(0).split(".", 1)[0]
                if label in _SERVICE_LABELS:
                    service_words.append(label)
        text = _DOMAIN_RE.sub(" ", text) + " " + " ".join(service_words)
    if "/" in text:
        for match in _PATH_RE.finditer(text):
            identifiers["path"].add(match.group(0))
            # the path's words still describe the subject: "/v1/messages" is about messages
            text += " " + " ".join(re.findall(r"[a-z]{3,}", match.group(0)))
        text = _PATH_RE.sub(" ", text)
    if any(c.isdigit() for c in text):
        for match in _INVOICE_RE.finditer(text):
            identifiers["invoice"].add(re.sub(r"\D", "", match.group(0)))
        text = _INVOICE_RE.sub(" ", text)
        text = _DURATION_RE.sub(_duration, text)
        identifiers["code"].update(_CODE_RE.findall(text))
        text = _CODE_RE.sub(" ", text)
    for match in _MONTH_RE.finditer(text):
        identifiers["month"].add(_MONTHS[match.group(0)[:3]])
    text = _MONTH_RE.sub(" ", text)
    text = _NOISE_RE.sub(" ", text)
    words = frozenset(_SAME.get(w, w) for w in canonical_tokens(text) if w != "domain")
    groups: dict[int, set[str]] = {}
    for word in words:
        if word in _GROUP_OF:
            groups.setdefault(_GROUP_OF[word], set()).add(word)
    frozen_ids = {kind: frozenset(v) for kind, v in identifiers.items()}
    return _Subject(
        words=words,
        identifiers=frozen_ids,
        groups={g: frozenset(m) for g, m in groups.items()},
        weight=sum(_weight(w) for w in words),
        is_generic=not any(frozen_ids.values()) and words <= _GENERIC,
        plain=" ".join(text.split()),
    )


def _conflicts(a: _Subject, b: _Subject) -> bool:
    for kind, values in a.identifiers.items():
        other = b.identifiers[kind]
        if values and other and not values & other:
            return True
    return any(
        group in b.groups and not members & b.groups[group] for group, members in a.groups.items()
    )


def _similar(left: str, right: str) -> bool:
    """A typo of the same word, or a longer form of it ("bounc" / "bouncerat")."""
    short, long = sorted((left, right), key=len)
    if len(short) >= 5 and long.startswith(short):
        return True
    limit = osa_limit(len(long))
    return (
        limit > 0
        and left[0] == right[0]
        and left.isalpha()
        and right.isalpha()
        and OSA.distance(left, right, score_cutoff=limit) <= limit
    )


def _similarity(a: _Subject, b: _Subject) -> float:
    """Blend of containment and Dice overlap of weighted words and shared identifiers."""
    # Identifiers named on one side only are extra detail, not a difference: only shared
    # identifiers count (conflicting ones were ruled out before).
    shared_ids = sum(
        WEIGHT_IDENTIFIER for kind, values in a.identifiers.items() if values & b.identifiers[kind]
    )
    exact = a.words & b.words
    matched_weight = sum(_weight(w) for w in exact)
    strong_match = shared_ids > 0 or not exact <= _WEAK
    unmatched = list(b.words - exact)
    for word in a.words - exact:
        for position, candidate in enumerate(unmatched):
            if _similar(word, candidate):
                matched_weight += min(_weight(word), _weight(candidate))
                strong_match = strong_match or word not in _WEAK
                del unmatched[position]
                break
    if not strong_match:
        return 0.0
    total_a = a.weight + shared_ids
    total_b = b.weight + shared_ids
    matched = matched_weight + shared_ids
    if total_a == 0 or total_b == 0:
        return 0.0
    containment = matched / min(total_a, total_b)
    if containment < MIN_CONTAINMENT:
        return 0.0
    dice = 2 * matched / (total_a + total_b)
    return min(1.0, 0.5 * containment + 0.5 * dice)


def subject_similarity(subject: str, other: str) -> float:
    """How much two ticket subjects describe the same problem (0..1; 0 when they conflict)."""
    a, b = _analyse(subject), _analyse(other)
    if a.is_generic or b.is_generic or _conflicts(a, b):
        return 0.0
    return _similarity(a, b)


def _preselect(new: _Subject, tickets: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The open tickets worth a full comparison when there are many of them."""
    if len(tickets) <= MAX_FULLY_COMPARED:
        return tickets
    # rapidfuzz's own processor (lowercase, punctuation to spaces) runs in C: this must stay
    # cheap for all the tickets, the full comparison is for the few it keeps.
    subjects = [s for _, s in tickets]
    closest = process.extract(
        new.plain,
        subjects,
        scorer=fuzz.token_set_ratio,
        processor=utils.default_process,
        limit=MAX_FULLY_COMPARED,
    )
    chosen = {index for _, _, index in closest}
    # A ticket naming the same address, domain, invoice number, code or path is always compared.
    markers = [
        v
        for kind in ("mailbox", "domain", "invoice", "code", "path")
        for v in new.identifiers[kind]
    ]
    if markers:
        for index, text in enumerate(subjects):
            lowered = text.lower()
            if any(m in lowered for m in markers):
                chosen.add(index)
                continue
            # invoice numbers are kept as digits only ("INV-2024-0415" -> "20240415")
            digits = _NON_DIGIT_RE.sub("", lowered)
            if digits and any(m in digits for m in markers):
                chosen.add(index)
    return [tickets[i] for i in sorted(chosen)]


def find_duplicate(
    subject: str, open_tickets: Iterable[tuple[int, str]] | Sequence[tuple[int, str]]
) -> DuplicateMatch | None:
    """The customer's open ticket that ``subject`` repeats, or None.

    ``open_tickets`` are ``(ticket_id, subject)`` pairs. Ties go to the earlier ticket.
    """
    new = _analyse(subject)
    if new.is_generic:
        return None
    best: DuplicateMatch | None = None
    for ticket_id, open_subject in _preselect(new, list(open_tickets)):
        old = _analyse(open_subject)
        if old.is_generic or _conflicts(new, old):
            continue
        score = _similarity(new, old)
        if score >= DUPLICATE_SCORE and (best is None or score > best.score):
            best = DuplicateMatch(ticket_id=ticket_id, subject=open_subject, score=round(score, 3))
    return best
