"""Text hygiene shared by every limit: what counts as a character, and splitting long text at a
platform's size limit without losing one."""

from __future__ import annotations

import re
import unicodedata

# Zero-width and bidi-control characters carry no visible text and can disguise what a message
# says (a right-to-left override flips a file name); they are removed before anything is stored.
_INVISIBLE = {
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u180e",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
}


def clean(text: str) -> str:
    """Drop invisible and control characters (keeping newlines and tabs), normalise line
    endings and trim. The result is what gets counted, stored and shown."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for ch in text:
        if ch in _INVISIBLE:
            continue
        if ch in "\n\t":
            kept.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn") or (cat == "Cf" and ch not in "\u200d"):
            continue
        kept.append(ch)
    return "".join(kept).strip()


def one_line(text: str) -> str:
    """Collapse all whitespace to single spaces (for subjects)."""
    return re.sub(r"\s+", " ", clean(text)).strip()


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters whose concatenation is exactly
    ``text``. Prefers paragraph, then line, then word boundaries; hard-cuts a run with none."""
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            pos = window.rfind(sep)
            if pos > limit // 2:
                cut = pos + len(sep)
                break
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut])
        rest = rest[cut:]
    if rest or not chunks:
        chunks.append(rest)
    return chunks
