"""partial index for the staff queue: open tickets in priority order

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('Open', 'Waiting on customer')"


def upgrade() -> None:
    op.create_index(
        "ix_tickets_open_queue",
        "tickets",
        [sa.text("urgent DESC"), "priority_rank", "created_at", "id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_open_queue", table_name="tickets")
