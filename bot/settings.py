"""Process settings from the environment (12-factor; a `.env` file works too). The structured
desk policy lives in the optional TOML file named by HELPLINE_CONFIG (see bot.config_file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///helpline.db",
        validation_alias=AliasChoices("HELPLINE_DATABASE_URL"),
    )
    database_pool_size: int = Field(
        default=20, ge=1, le=500, validation_alias=AliasChoices("HELPLINE_DB_POOL_SIZE")
    )
    config_path: Path | None = Field(default=None, validation_alias=AliasChoices("HELPLINE_CONFIG"))
    http_port: int = Field(
        default=3000, ge=0, le=65535, validation_alias=AliasChoices("HELPLINE_HTTP_PORT")
    )
    http_host: str = Field(default="0.0.0.0", validation_alias=AliasChoices("HELPLINE_HTTP_HOST"))
    log_format: str = Field(
        default="text",
        pattern="^(text|json)$",
        validation_alias=AliasChoices("HELPLINE_LOG_FORMAT"),
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("HELPLINE_LOG_LEVEL"))

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN")
    )
    slack_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_CLIENT_ID")
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL")
    )

    discord_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_BOT_TOKEN")
    )
    discord_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_API_URL")
    )
    discord_gateway_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_GATEWAY_URL")
    )

    @property
    def slack_enabled(self) -> bool:
        return bool(
            (self.slack_bot_token or self.slack_client_id) and self.slack_signing_secret
        ) or bool(self.slack_app_token and self.slack_bot_token)

    @property
    def discord_enabled(self) -> bool:
        return self.discord_bot_token is not None

    def masked(self) -> dict[str, str]:
        """Every setting with secrets masked, for `helpline config check`."""
        out: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            alias = field.validation_alias
            env = alias.choices[0] if isinstance(alias, AliasChoices) else name
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                shown = (raw[:4] + "…" + f"({len(raw)} chars)") if raw else "(empty)"
            elif value is None:
                shown = "(not set)"
            elif name == "database_url":
                shown = _mask_url(str(value))
            else:
                shown = str(value)
            out[str(env)] = shown
        return out


def _mask_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
