"""The console's transport: what would be posted to a chat is printed, marked with the side it
would appear on, so a person can watch the relay work both ways in one terminal."""

from __future__ import annotations

from typing import TextIO

from core.models import Destination, MessageRef, Platform, ThreadRef
from core.outbound import CardPosted, Outbound, OutboundFile, OutboundKind, Reaction
from core.views import TicketCard

WORKSPACE = "local"


def render_card(card: TicketCard) -> list[str]:
    urgent = "🔴 URGENT · " if card.urgent else ""
    lines = [
        f"{urgent}{card.number} {card.subject}",
        f"  {card.category} · {card.status} · {card.plan} ({card.priority_label})"
        f" · customer {card.customer} [{card.customer_platform}:{card.workspace}]"
        f" · assignee {card.assignee or 'nobody'}",
    ]
    if card.possible_duplicate_of:
        lines.append(f"  possible duplicate of #{card.possible_duplicate_of}")
    if card.follows_ticket_id:
        lines.append(f"  follows closed ticket #{card.follows_ticket_id}")
    if card.offered_articles:
        lines.append(f"  offered before filing: {', '.join(card.offered_articles)} (filed anyway)")
    for name, values in card.details.items():
        lines.append(f"  {name.replace('_', ' ')}: {', '.join(values)}")
    return lines


class ConsoleTransport:
    platform = Platform.CONSOLE

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._counter = 0

    def _id(self) -> str:
        self._counter += 1
        return f"m{self._counter}"

    def _print(self, where: str, text: str) -> None:
        for i, line in enumerate(text.splitlines() or [""]):
            prefix = f"  [{where}] " if i == 0 else " " * (len(where) + 5)
            self.out.write(prefix + line + "\n")
        self.out.flush()

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef:
        channel = f"dm-{dest.user_id}" if dest.channel_id is None else dest.channel_id
        thread = ThreadRef(
            platform=Platform.CONSOLE,
            workspace=WORKSPACE,
            channel_id=channel,
            thread_id=f"ticket-{message.ticket_id}",
        )
        self._print(f"#{message.ticket_id} customer thread", f"Helpline: {message.text}")
        return thread

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef:
        side = "staff thread" if thread.channel_id.startswith("staff") else "customer thread"
        if message.kind is OutboundKind.RELAY:
            who = f"{message.author} (staff)" if message.author_is_staff else f"{message.author}"
        else:
            who = "Helpline"
        text = f"{who}: {message.text}"
        if file is not None:
            text += f"\n[image {file.attachment.filename}, {file.attachment.size} bytes]"
        self._print(f"#{message.ticket_id} {side}", text)
        return MessageRef(
            platform=Platform.CONSOLE,
            workspace=WORKSPACE,
            channel_id=thread.channel_id,
            message_id=self._id(),
        )

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted:
        channel = dest.channel_id or "staff"
        self._print(f"staff card in {channel}", "\n".join(render_card(card)))
        ref = MessageRef(
            platform=Platform.CONSOLE,
            workspace=WORKSPACE,
            channel_id=f"staff-{channel}",
            message_id=f"card-{card.id}",
        )
        return CardPosted(
            card=ref,
            thread=ThreadRef(
                platform=Platform.CONSOLE,
                workspace=WORKSPACE,
                channel_id=ref.channel_id,
                thread_id=ref.message_id,
            ),
        )

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None:
        self._print(f"card {card.number} updated", render_card(card)[1].strip())

    async def react(self, ref: MessageRef, reaction: Reaction) -> None:
        mark = "✓ delivered" if reaction is Reaction.DELIVERED else "⚠ not delivered"
        self.out.write(f"  ({mark})\n")
        self.out.flush()
