"""Slack text hygiene: the one place that escapes relayed words and splits long text.

Slack turns `<!channel>`, `<!here>`, `<!everyone>`, `<@U…>`, `<#C…>` and `<!subteam^S…>` into
pings and links; escaping `&`, `<` and `>` (Slack's documented control characters) makes them
show as typed and ping nobody. Splitting happens on the raw text (with
``core.rules.text.split_text``) and each chunk is escaped afterwards, so an entity such as
`&amp;` is never cut in half and the chunks, unescaped and joined, give back every character."""

from __future__ import annotations

import re

from core.rules.text import split_text

SECTION_TEXT_LIMIT = 3000
"""Characters in one section block's text (Slack refuses more)."""
PLAIN_INPUT_LIMIT = 3000
"""plain_text_input max_length and initial_value limit."""
FALLBACK_TEXT_LIMIT = 3000
"""We keep a message's notification text short; Slack truncates past 40,000 anyway."""
BLOCKS_PER_MESSAGE = 50


def escape(text: str) -> str:
    """Escape Slack's control characters so text shows as written and never pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The inverse of ``escape`` (tests and previews)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escaped_chunks(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """``text`` escaped and split so every chunk is at most ``limit`` characters.

    Escaping can grow a chunk (up to five times for a run of `&`), so a chunk that grows past
    the limit is split again, smaller, until it fits."""
    out: list[str] = []
    for raw in split_text(text, limit):
        out.extend(_fit(raw, limit))
    return out


def _fit(raw: str, limit: int) -> list[str]:
    escaped = escape(raw)
    if len(escaped) <= limit:
        return [escaped]
    smaller = max(1, (len(raw) + 1) // 2)
    out: list[str] = []
    for part in split_text(raw, smaller):
        out.extend(_fit(part, limit))
    return out


def split_plain(text: str, limit: int = PLAIN_INPUT_LIMIT) -> tuple[str, str]:
    """Split text across the form's two message inputs (first input, continued input).

    The cut is a hard cut at ``limit`` so that joining the two again (``join_message``) gives
    back exactly ``text``."""
    return text[:limit], text[limit:]


def join_message(first: str, second: str, first_limit: int = PLAIN_INPUT_LIMIT) -> str:
    """Join the modal's "message" and "continued" inputs into one message.

    A first input filled to its limit was cut mid-text, so the rest follows directly; otherwise
    the customer wrote a separate paragraph and it starts on a new line."""
    if not second:
        return first
    if not first:
        return second
    if len(first) >= first_limit or first[-1].isspace() or second[0].isspace():
        return first + second
    return f"{first}\n{second}"


def preview(text: str, n: int = 150) -> str:
    """One line of at most ``n`` characters, for notification text."""
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


_MARKUP = re.compile(r"<([^<>]*)>")
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def from_slack_markup(text: str) -> str:
    """What a person typed, from the text of a Slack message event.

    Slack sends `&`, `<`, `>` escaped and mentions, channels and links as `<…>` markup. Core
    stores words, not markup: `<@U123>` becomes `@U123`, `<!here>` becomes `@here`,
    `<#C1|general>` becomes `#general`, `<https://x|label>` becomes `label (https://x)`. When the
    words go back out they are escaped again, so none of them pings anyone."""

    def plain(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            name = target[1:].split("^", 1)[0]
            if name in _SPECIAL:
                return _SPECIAL[name]
            return label or f"@{name}"
        if label and label != target and label != target.removeprefix("mailto:"):
            return f"{label} ({target})"
        return target.removeprefix("mailto:") if label else target

    return unescape(_MARKUP.sub(plain, text))
