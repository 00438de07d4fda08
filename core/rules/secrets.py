"""Secret detection: passwords, 2FA secrets and recovery codes, API keys and tokens must not be
shared in tickets. On the form they are refused with the reason; in a thread (where a message
can't be refused) they are redacted before storage and the author is told."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class SecretKind(StrEnum):
    PASSWORD = "password"
    TWO_FACTOR = "2FA secret or recovery code"
    API_KEY = "API key or token"
    PRIVATE_KEY = "private key"


@dataclass(frozen=True)
class SecretFinding:
    kind: SecretKind
    start: int
    end: int


# Words that follow "password is ..." in ordinary sentences about a password, not a password.
_NOT_A_VALUE = {
    "not",
    "wrong",
    "incorrect",
    "correct",
    "right",
    "expired",
    "invalid",
    "rejected",
    "working",
    "being",
    "still",
    "the",
    "a",
    "an",
    "too",
    "very",
    "definitely",
    "also",
    "now",
    "same",
    "changed",
    "reset",
    "ok",
    "okay",
    "fine",
    "accepted",
    "set",
    "saved",
    "weak",
    "strong",
    "long",
    "short",
    "required",
    "missing",
    "in",
    "on",
    "for",
    "of",
    "to",
    "that",
    "this",
    "my",
    "our",
    "your",
    "it",
    "and",
    "but",
    "or",
    "stored",
    "updated",
    "lost",
    "forgotten",
    "unknown",
    "blank",
    "empty",
    "there",
    "here",
    "no",
    "none",
    "n/a",
    "locked",
    "asked",
    "needed",
    "requested",
    "wrong.",
    "fine.",
    "ok.",
    "correct.",
    "expired.",
    "*****",
    "hidden",
    "redacted",
    "[redacted]",
    "same.",
    "already",
    "valid",
    "good",
}

_PW_WORD = (
    r"(?:password|passwort|passwd|passcode|pwd|pw|pass|kennwort|contrase(?:ñ|n)a|mot de passe)"
)
# "password: X" / "password = X" / "pw -> X": strong signal, any non-stopword value counts.
_PW_ASSIGN = re.compile(
    rf"\b{_PW_WORD}\s*(?:[:=]|->|=>)\s*(?P<v>\"[^\"]+\"|'[^']+'|`[^`]+`|\S+)", re.IGNORECASE
)
# "my password is X" / "new password was X": only when X looks like a credential.
_PW_IS = re.compile(
    rf"\b{_PW_WORD}\s+(?:is|was|would be|will be|=)\s+(?P<v>\"[^\"]+\"|'[^']+'|`[^`]+`|\S+)",
    re.IGNORECASE,
)
_TWO_FA_SECRET = re.compile(
    r"(?:otpauth://\S+)|"
    r"(?:\b(?:2fa|two[- ]factor|totp|authenticator|mfa|otp)\b[^\n]{0,30}?"
    r"\b(?:secret|seed|key|code)s?\b\s*(?:is|are|:|=)?\s*"
    r"(?P<v>(?:[A-Z2-7]{4}[ -]?){4,}|\d{6,8}))",
    re.IGNORECASE,
)
_RECOVERY_CODES = re.compile(
    r"\b(?:recovery|backup|scratch)\s+codes?\b[^\n]{0,20}?(?:is|are|:|=)\s*"
    r"(?P<v>[A-Za-z0-9]{4,}(?:[- ][A-Za-z0-9]{4,})*"
    r"(?:[\s,;]+[A-Za-z0-9]{4,}(?:[- ][A-Za-z0-9]{4,})*)*)",
    re.IGNORECASE,
)
_TOKEN_PATTERNS = [
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    re.compile(r"\bSG\.[\w-]{16,}\.[\w-]{16,}"),
    re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{20,}", re.IGNORECASE),
    re.compile(
        r"\b(?:api[_ -]?key|api[_ -]?token|access[_ -]?token|secret[_ -]?key|client[_ -]?secret|"
        r"auth[_ -]?token|token)\s*(?:is|:|=)\s*[\"'`]?(?P<v>[A-Za-z0-9._~+/=-]{16,})",
        re.IGNORECASE,
    ),
]
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)"
)


def _strip_quotes(value: str) -> tuple[str, bool]:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1], True
    return value, False


def _looks_like_credential(value: str) -> bool:
    core = value.rstrip(".,;!?)")
    if len(core) < 4:
        return False
    has_digit = any(c.isdigit() for c in core)
    has_symbol = any(not c.isalnum() for c in core)
    inner_upper = any(c.isupper() for c in core[1:])
    return has_digit or has_symbol or inner_upper


def find_secrets(text: str) -> list[SecretFinding]:
    """Every secret-looking span in ``text``, in order, without overlaps."""
    found: list[SecretFinding] = []

    def add(kind: SecretKind, start: int, end: int) -> None:
        found.append(SecretFinding(kind, start, end))

    for m in _PRIVATE_KEY.finditer(text):
        add(SecretKind.PRIVATE_KEY, m.start(), m.end())
    for m in _PW_ASSIGN.finditer(text):
        value, quoted = _strip_quotes(m.group("v"))
        if quoted or value.lower().rstrip(".,;!") not in _NOT_A_VALUE:
            add(SecretKind.PASSWORD, m.start("v"), m.end("v"))
    for m in _PW_IS.finditer(text):
        value, quoted = _strip_quotes(m.group("v"))
        if value.lower() in _NOT_A_VALUE:
            continue
        if quoted or _looks_like_credential(value):
            add(SecretKind.PASSWORD, m.start("v"), m.end("v"))
    for m in _TWO_FA_SECRET.finditer(text):
        if m.group("v"):
            add(SecretKind.TWO_FACTOR, m.start("v"), m.end("v"))
        else:
            add(SecretKind.TWO_FACTOR, m.start(), m.end())
    for m in _RECOVERY_CODES.finditer(text):
        value = m.group("v")
        if any(c.isdigit() for c in value):
            add(SecretKind.TWO_FACTOR, m.start("v"), m.end("v"))
    for pattern in _TOKEN_PATTERNS:
        for m in pattern.finditer(text):
            group = "v" if "v" in pattern.groupindex and m.group("v") else 0
            value = m.group(group)
            if group == "v" and not any(c.isdigit() for c in value):
                continue  # "token: the-one-from-the-dashboard" is prose, not a token
            add(SecretKind.API_KEY, m.start(group), m.end(group))

    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    merged: list[SecretFinding] = []
    for f in found:
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            if f.end > last.end:
                merged[-1] = SecretFinding(last.kind, last.start, f.end)
            continue
        merged.append(f)
    return merged


def redact(text: str) -> tuple[str, list[SecretFinding]]:
    """``text`` with every secret replaced by a marker naming its kind."""
    findings = find_secrets(text)
    if not findings:
        return text, []
    out: list[str] = []
    pos = 0
    for f in findings:
        out.append(text[pos : f.start])
        out.append(f"[{f.kind.value} removed]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out), findings


def describe(findings: list[SecretFinding]) -> str:
    """A customer-facing reason, naming what was found."""
    kinds = []
    for f in findings:
        if f.kind.value not in kinds:
            kinds.append(f.kind.value)
    what = " and ".join(kinds) if len(kinds) <= 2 else ", ".join(kinds)
    advice = (
        " If it is real, change it now."
        if any(
            f.kind in (SecretKind.API_KEY, SecretKind.PRIVATE_KEY, SecretKind.PASSWORD)
            for f in findings
        )
        else ""
    )
    return (
        f"This looks like it contains a {what}. Don't share passwords, 2FA secrets or keys in "
        f"tickets: support never needs them.{advice}"
    )
