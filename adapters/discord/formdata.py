"""What a submitted Helpline form carries by itself: its custom_id names the kind of form and
the few small ids it needs, and the submit holds every input's value. Nothing else is needed to
handle it, so a form opened before a restart (or left open longer than discord.py would keep
it) still works when it is submitted.

Form ids are ``helpline-form:<kind>:<ids>``, at most 100 characters (Discord's limit):

- ``ticket:<opened>:<category or ->:<follows or 0>:<held>`` — the new-ticket form. ``opened``
  is the id of the interaction that opened it, the key of what the adapter holds in memory for
  it; ``held`` says whether an image came with it (``c`` from the command, ``e`` kept from an
  earlier try, ``0`` none), so its loss can be told apart from its absence.
- ``note:<thread id>`` — an internal note on the ticket of that staff thread.
- ``snippet:<name>`` — a canned reply's text.
- ``rating:<ticket id>:<closing>`` — a rating with a comment.

The ids are never trusted: the desk checks each one against the person who submits the form.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.models import Category

PREFIX = "helpline-form:"
CUSTOM_ID_MAX = 100  # Discord's limit for a modal's custom_id
_SNOWFLAKE = r"[0-9]{1,20}"
_NUMBER = r"[0-9]{1,18}"  # a ticket id or the like: it fits a signed 64-bit column
_TICKET = re.compile(
    rf"ticket:(?P<opened>{_SNOWFLAKE}):(?P<category>[A-Za-z]+|-):(?P<follows>{_NUMBER})"
    r":(?P<held>[0ce])")
_NOTE = re.compile(rf"note:(?P<thread>{_SNOWFLAKE})")
_SNIPPET = re.compile(r"snippet:(?P<name>\S+)")
_RATING = re.compile(rf"rating:(?P<ticket>{_NUMBER}):(?P<closing>{_NUMBER})")

# Submitted component types (Discord's numbering).
_ACTION_ROW = 1
_TEXT_INPUT = 4
_LABEL = 18
_FILE_UPLOAD = 19


class HeldImage(StrEnum):
    """Where the image a new-ticket form was opened with came from."""

    NONE = "0"
    COMMAND = "c"  # the /support new command's image option
    EARLIER = "e"  # kept from a refused try, for the form reopened by Edit and resubmit


@dataclass(frozen=True)
class TicketFormId:
    opened: int
    category: Category | None
    follows: int | None
    held: HeldImage = HeldImage.NONE

    @property
    def custom_id(self) -> str:
        category = self.category.value if self.category is not None else "-"
        return _checked(f"{PREFIX}ticket:{self.opened}:{category}:{self.follows or 0}:"
                        f"{self.held.value}")


@dataclass(frozen=True)
class NoteFormId:
    thread_id: int

    @property
    def custom_id(self) -> str:
        return _checked(f"{PREFIX}note:{self.thread_id}")


@dataclass(frozen=True)
class SnippetFormId:
    name: str

    @property
    def custom_id(self) -> str:
        return _checked(f"{PREFIX}snippet:{self.name}")

    def fits(self) -> bool:
        """Whether the name can be carried in a form id (a longer one is never a valid name)."""
        return (bool(_SNIPPET.fullmatch(f"snippet:{self.name}"))
                and len(f"{PREFIX}snippet:{self.name}") <= CUSTOM_ID_MAX)


@dataclass(frozen=True)
class RatingFormId:
    ticket_id: int
    closing: int

    @property
    def custom_id(self) -> str:
        return _checked(f"{PREFIX}rating:{self.ticket_id}:{self.closing}")


FormId = TicketFormId | NoteFormId | SnippetFormId | RatingFormId


def _checked(custom_id: str) -> str:
    if len(custom_id) > CUSTOM_ID_MAX:
        raise ValueError(f"a form id holds at most {CUSTOM_ID_MAX} characters: {custom_id!r}")
    return custom_id


def parse_form_id(custom_id: object) -> FormId | None:
    """The form a modal submit belongs to, or None for an id Helpline never makes."""
    if (not isinstance(custom_id, str) or len(custom_id) > CUSTOM_ID_MAX
            or not custom_id.startswith(PREFIX)):
        return None
    rest = custom_id[len(PREFIX):]
    if match := _TICKET.fullmatch(rest):
        category = None
        if match["category"] != "-":
            try:
                category = Category.parse(match["category"])
            except ValueError:
                return None
        return TicketFormId(int(match["opened"]), category, int(match["follows"]) or None,
                            HeldImage(match["held"]))
    if match := _NOTE.fullmatch(rest):
        return NoteFormId(int(match["thread"]))
    if match := _SNIPPET.fullmatch(rest):
        return SnippetFormId(match["name"])
    if match := _RATING.fullmatch(rest):
        return RatingFormId(int(match["ticket"]), int(match["closing"]))
    return None


@dataclass(frozen=True)
class SubmittedFile:
    """A file uploaded in a form, as the submit describes it; ``read`` fetches its bytes from
    Discord's CDN (the link expires, so the adapter copies it at once)."""

    filename: str
    size: int
    url: str
    fetch: Callable[[str], Awaitable[bytes]] = field(repr=False)

    async def read(self) -> bytes:
        return await self.fetch(self.url)


@dataclass
class SubmittedFields:
    """Every input of a submitted form by its custom_id. A value that is not what its input
    sends (Discord never sends one) counts as nothing typed or chosen, so the desk answers it
    with its field errors."""

    texts: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[SubmittedFile]] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], fetch: Callable[[str], Awaitable[bytes]]
    ) -> SubmittedFields:
        """Read a MODAL_SUBMIT's ``data``: Labels (or legacy action rows) around text inputs,
        selects and file uploads; uploaded files are described in ``resolved.attachments``."""
        fields = cls()
        resolved = data.get("resolved")
        attachments = resolved.get("attachments") if isinstance(resolved, Mapping) else None
        fields._read(data.get("components"), attachments if isinstance(attachments, Mapping)
                     else {}, fetch, depth=0)
        return fields

    def _read(
        self, components: object, attachments: Mapping[str, Any],
        fetch: Callable[[str], Awaitable[bytes]], depth: int,
    ) -> None:
        if not isinstance(components, list) or depth > 2:
            return
        for component in components:
            if not isinstance(component, Mapping):
                continue
            kind = component.get("type")
            if kind == _ACTION_ROW:
                self._read(component.get("components"), attachments, fetch, depth + 1)
            elif kind == _LABEL:
                self._read([component.get("component")], attachments, fetch, depth + 1)
            elif isinstance(custom_id := component.get("custom_id"), str):
                self._take(custom_id, kind, component, attachments, fetch)

    def _take(
        self, custom_id: str, kind: object, component: Mapping[str, Any],
        attachments: Mapping[str, Any], fetch: Callable[[str], Awaitable[bytes]],
    ) -> None:
        if kind == _TEXT_INPUT:
            value = component.get("value")
            self.texts[custom_id] = value if isinstance(value, str) else ""
            return
        values = component.get("values")
        values = values if isinstance(values, list) else []
        if kind == _FILE_UPLOAD:
            self.files[custom_id] = [f for f in (_file(attachments.get(v), fetch)
                                                 for v in values if isinstance(v, str)) if f]
        else:
            self.choices[custom_id] = [v if isinstance(v, str) else "" for v in values]

    def text(self, custom_id: str) -> str:
        return self.texts.get(custom_id, "")

    def chosen(self, custom_id: str) -> str:
        """The one value chosen in a select; nothing when none or several came."""
        values = self.choices.get(custom_id, [])
        return values[0] if len(values) == 1 else ""


def _file(payload: object, fetch: Callable[[str], Awaitable[bytes]]) -> SubmittedFile | None:
    if not isinstance(payload, Mapping):
        return None
    filename, size, url = payload.get("filename"), payload.get("size"), payload.get("url")
    if (not isinstance(filename, str) or not isinstance(url, str)
            or not isinstance(size, int) or isinstance(size, bool)):
        return None
    return SubmittedFile(filename, size, url, fetch)
