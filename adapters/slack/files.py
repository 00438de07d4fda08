"""Fetching a customer's image from Slack before core judges it.

Slack hosts files behind the bot token; without a valid one it answers 200 with an HTML
sign-in page, so both the status and the content type are checked: an HTML page is never
passed on as if it were the customer's file. Everything else (a PDF, a PNG named .txt) is
handed to core, which judges the bytes and words the refusal."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from core.models import AttachmentIn

HARD_CAP_BYTES = 32 * 1024 * 1024
"""Never read more than this: core refuses anything over its own (smaller) limit anyway, and
the size it names is then at least this."""


class FileProblem(Exception):
    """The file could not be fetched; ``str(problem)`` is worded for the customer."""


async def fetch_file(client: AsyncWebClient, token: str | None, file: dict[str, Any]
                     ) -> AttachmentIn:
    """Download one Slack file object (from a file_input or a message event)."""
    name = str(file.get("name") or file.get("title") or "image")
    url = file.get("url_private_download") or file.get("url_private")
    if not url and file.get("id"):
        # Events may carry a stub ({"id", "file_access": "check_file_info"}): ask for the rest.
        try:
            info = await client.files_info(file=str(file["id"]))
        except Exception as exc:
            raise FileProblem(f"Helpline couldn't look up '{name}' on Slack. "
                              "Try attaching it again.") from exc
        full = info.get("file") or {}
        name = str(full.get("name") or name)
        url = full.get("url_private_download") or full.get("url_private")
    if not url:
        raise FileProblem(
            f"Slack did not give Helpline access to '{name}'. Try attaching it again.")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=20)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, \
                http.get(str(url), headers=headers) as response:
            if response.status != 200:
                raise FileProblem(
                    f"Helpline couldn't fetch '{name}' from Slack (HTTP {response.status}). "
                    "Try attaching it again.")
            if response.content_type == "text/html":
                raise FileProblem(
                    f"Helpline couldn't fetch '{name}' from Slack (it answered with a sign-in "
                    "page: the app may lack the files:read permission). Try again later.")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > HARD_CAP_BYTES:
                    break
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FileProblem(
            f"Helpline couldn't fetch '{name}' from Slack ({exc.__class__.__name__}). "
            "Try attaching it again.") from exc
    return AttachmentIn(filename=name, data=bytes(data))
