"""The composition root: the one place that builds the database, the knowledge base, the
desk service and the delivery worker, and plugs the chat adapters' transports into it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config_file import load_desk_config
from bot.settings import Settings
from core.clock import Clock, utcnow
from core.config import DeskConfig
from core.knowledge import KnowledgeBase, load_knowledge_base
from core.models import Platform
from core.outbound import Transport
from core.outbox import DeliveryWorker
from core.service import SupportDesk
from core.storage.db import Database


@dataclass
class Core:
    settings: Settings
    config: DeskConfig
    db: Database
    kb: KnowledgeBase
    desk: SupportDesk
    transports: dict[Platform, Transport] = field(default_factory=dict)
    worker: DeliveryWorker | None = None

    def start_worker(
        self, transports: Mapping[Platform, Transport], **options: object
    ) -> DeliveryWorker:
        """Create the delivery worker for these transports and let the desk wake it."""
        self.transports.update(transports)
        worker = DeliveryWorker(self.db, self.transports, clock=self.desk.clock, **options)  # type: ignore[arg-type]
        self.worker = worker
        self.desk.on_enqueue = worker.wake
        return worker

    async def close(self) -> None:
        await self.db.dispose()


async def build_core(
    settings: Settings,
    *,
    config: DeskConfig | None = None,
    clock: Clock = utcnow,
    migrate: bool = True,
) -> Core:
    config = config or load_desk_config(settings.config_path)
    kb = load_knowledge_base(config.knowledge_base_dir)
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    if migrate:
        await db.upgrade()
    desk = SupportDesk(db, config, kb, clock=clock)
    return Core(settings=settings, config=config, db=db, kb=kb, desk=desk)
