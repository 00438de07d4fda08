"""The one place that shapes text for Discord: splitting at the 2000-character message limit
without losing a character, and the mention policy (nothing the bot sends may ping anyone, but
the on-call role in the one notice meant to wake it).

Discord pings from the message's ``allowed_mentions``, not from its text, so mentions are
neutralised by sending ``AllowedMentions.none()`` with every message (and as the client's
default); the text itself is relayed unchanged, so nothing is lost or altered."""

from __future__ import annotations

import hashlib

import discord

from core.rules.text import split_text

MESSAGE_LIMIT = 2000
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELD_LIMIT = 1024
THREAD_NAME_LIMIT = 100
NONCE_LIMIT = 25


def no_mentions() -> discord.AllowedMentions:
    """Allowed mentions for every message the bot sends: nobody, no role, not @everyone."""
    return discord.AllowedMentions.none()


def role_ping(role: discord.Object) -> discord.AllowedMentions:
    """Allowed mentions for an on-call notice: exactly this role, no user, not @everyone."""
    return discord.AllowedMentions(everyone=False, users=False, roles=[role],
                                   replied_user=False)


def split_message(text: str, *, prefix: str = "", limit: int = MESSAGE_LIMIT) -> list[str]:
    """Message contents for ``prefix + text``: each at most ``limit`` characters; the prefix
    (who is speaking) leads the first one. Concatenated they are exactly ``prefix + text``."""
    if len(prefix) >= limit:
        raise ValueError("prefix longer than a message")
    if len(prefix) + len(text) <= limit:
        return [prefix + text]
    first = split_text(text, limit - len(prefix))[0]
    rest = text[len(first):]
    return [prefix + first, *(split_text(rest, limit) if rest else [])]


def clip(text: str, limit: int) -> str:
    """Shorten text for a display-only place (embed field, thread name); never for relays."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nonce_for(key: str, part: int = 0) -> str:
    """A Discord nonce (≤ 25 characters) derived from an outbox key, so that a retried send is
    recognised by Discord (``enforce_nonce``) and creates no second message."""
    return hashlib.sha256(f"{key}#{part}".encode()).hexdigest()[:NONCE_LIMIT]
