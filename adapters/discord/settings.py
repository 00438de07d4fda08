"""Discord-only runtime settings: how this process connects to the gateway (sharding).

The bot token and the endpoint overrides are shared settings (``bot.settings``:
DISCORD_BOT_TOKEN, DISCORD_API_URL, DISCORD_GATEWAY_URL). Sharding is a deployment choice of
the Discord adapter alone, so it lives here:

- ``DISCORD_AUTO_SHARD=true``: one process runs every shard (discord.py's AutoShardedClient asks
  Discord how many are recommended, unless DISCORD_SHARD_COUNT says).
- ``DISCORD_SHARD_COUNT=4`` with ``DISCORD_SHARD_IDS=0,1``: this process runs shards 0 and 1 of
  4; another process runs ``2,3``. Guilds are split over shards by Discord
  (``(guild_id >> 22) % shard_count``), so a large deployment splits guilds over processes.
- nothing set: one plain connection (fine below about 2,500 guilds).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class DiscordSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    auto_shard: bool = Field(default=False, validation_alias=AliasChoices("DISCORD_AUTO_SHARD"))
    shard_count: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("DISCORD_SHARD_COUNT")
    )
    shard_ids: Annotated[list[int] | None, NoDecode] = Field(
        default=None, validation_alias=AliasChoices("DISCORD_SHARD_IDS")
    )

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        """Accept "0,1" (the environment's form) as well as a list."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return [int(p) for p in parts] or None
            except ValueError:
                raise ValueError(
                    f"DISCORD_SHARD_IDS must be shard numbers separated by commas, like 0,1 "
                    f"(got {value!r})"
                ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DiscordSettings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total shards)")
            bad = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if bad:
                raise ValueError(
                    f"DISCORD_SHARD_IDS {bad} are outside 0..{self.shard_count - 1} "
                    f"(DISCORD_SHARD_COUNT={self.shard_count})"
                )
            if len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError("DISCORD_SHARD_IDS lists a shard twice")
        return self

    @property
    def sharded(self) -> bool:
        """Whether to run an AutoShardedClient (several shards, or Discord's recommendation)."""
        return self.auto_shard or self.shard_ids is not None or (self.shard_count or 1) > 1
