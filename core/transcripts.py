"""Transcripts and exports of tickets, snippet placeholders, and the shape of an incident read
from a status page. Pure functions over the domain's views."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import MessageKind
from core.views import TicketDetail

_KIND_LABEL = {
    MessageKind.CUSTOMER: "customer",
    MessageKind.STAFF: "support",
    MessageKind.NOTE: "internal note",
}


def transcript_markdown(detail: TicketDetail, *, include_notes: bool = True) -> str:
    """A readable transcript. Attachments are named by content hash, which stays valid after
    any platform link has expired."""
    s = detail.summary
    lines = [
        f"# Ticket #{s.id}: {s.subject}",
        "",
        f"- Category: {s.category}",
        f"- Status: {s.status}",
        f"- Plan: {s.plan}",
        f"- Customer: {s.customer}",
        f"- Opened: {s.created_at:%Y-%m-%d %H:%M} UTC",
        "",
        "## Conversation",
        "",
    ]
    for m in detail.messages:
        if m.kind is MessageKind.NOTE and not include_notes:
            continue
        lines.append(f"**{m.author}** ({_KIND_LABEL[m.kind]}, {m.at:%Y-%m-%d %H:%M} UTC):")
        lines.append("")
        lines.extend(f"> {line}" if line else ">" for line in m.body.splitlines() or [""])
        if m.attachment:
            lines.append(f"> [image {m.attachment.filename}, sha256:{m.attachment.sha256}]")
        lines.append("")
    if include_notes and detail.history:
        lines += ["## History", ""]
        lines += [
            f"- {h.at:%Y-%m-%d %H:%M} {h.actor}: {h.action} {h.detail}".rstrip()
            for h in detail.history
        ]
        lines.append("")
    return "\n".join(lines)


def transcript_record(detail: TicketDetail) -> dict[str, Any]:
    """One JSON-serialisable record per ticket, for `helpline tickets export --format jsonl`."""
    s, card = detail.summary, detail.card
    return {
        "id": s.id,
        "subject": s.subject,
        "category": s.category.value,
        "status": s.status.value,
        "plan": s.plan.value,
        "urgent": s.urgent,
        "customer": s.customer,
        "customer_platform": card.customer_platform,
        "workspace": card.workspace,
        "account": card.account,
        "assignee": s.assignee,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
        "offered_articles": card.offered_articles,
        "possible_duplicate_of": card.possible_duplicate_of,
        "follows_ticket_id": card.follows_ticket_id,
        "details": card.details,
        "messages": [
            {
                "kind": m.kind.value,
                "author": m.author,
                "body": m.body,
                "at": m.at.isoformat(),
                "attachment": (
                    {
                        "sha256": m.attachment.sha256,
                        "filename": m.attachment.filename,
                        "content_type": m.attachment.content_type,
                        "size": m.attachment.size,
                    }
                    if m.attachment
                    else None
                ),
            }
            for m in detail.messages
        ],
        "history": [
            {"at": h.at.isoformat(), "actor": h.actor, "action": h.action, "detail": h.detail}
            for h in detail.history
        ],
    }


def transcript_jsonl(detail: TicketDetail) -> str:
    return json.dumps(transcript_record(detail), ensure_ascii=False)


def fill_snippet(body: str, *, customer: str, ticket: int, agent: str) -> str:
    """Fill {customer}, {ticket} and {agent}; other braces are left as written."""
    return (
        body.replace("{customer}", customer)
        .replace("{ticket}", f"#{ticket}")
        .replace("{agent}", agent)
    )


@dataclass(frozen=True)
class ExternalIncident:
    """An unresolved incident as a status page lists it."""

    id: str
    name: str
    url: str | None = None
    started_at: datetime | None = None


def parse_unresolved_incidents(payload: Any) -> list[ExternalIncident]:
    """Read the common `unresolved incidents` JSON (``{"incidents": [{"id", "name",
    "shortlink", "created_at", "status"}, ...]}``); resolved or postmortem entries are skipped."""
    if not isinstance(payload, dict) or not isinstance(payload.get("incidents"), list):
        raise ValueError("expected an object with an 'incidents' list")
    result = []
    for item in payload["incidents"]:
        if not isinstance(item, dict) or not item.get("id") or not item.get("name"):
            continue
        if str(item.get("status", "")).lower() in ("resolved", "postmortem", "completed"):
            continue
        started = None
        if isinstance(item.get("created_at"), str):
            try:
                started = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
            except ValueError:
                started = None
        url = item.get("shortlink") or item.get("url")
        result.append(
            ExternalIncident(
                id=str(item["id"]),
                name=str(item["name"])[:500],
                url=str(url) if url else None,
                started_at=started,
            )
        )
    return result
