"""The Slack app manifest matches what the code listens for and asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adapters.slack import blocks as ui
from adapters.slack.runtime import BOT_SCOPES

MANIFEST = Path(__file__).resolve().parents[2] / "manifest" / "slack.yaml"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


def test_manifest_declares_the_command_shortcuts_and_home_tab_the_code_handles() -> None:
    features = manifest()["features"]

    assert [c["command"] for c in features["slash_commands"]] == ["/support"]
    shortcuts = {s["callback_id"]: s["type"] for s in features["shortcuts"]}
    assert shortcuts == {
        ui.NEW_TICKET_SHORTCUT: "global",
        ui.FILE_MESSAGE_SHORTCUT: "message",
        ui.INTERNAL_NOTE_SHORTCUT: "message",
        ui.SEND_SNIPPET_SHORTCUT: "message",
    }
    assert all(len(s["name"]) <= 24 and len(s["description"]) <= 80
               for s in features["shortcuts"])
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_read_only_enabled"] is False


def test_manifest_asks_for_exactly_the_scopes_and_events_helpline_uses() -> None:
    data = manifest()

    assert sorted(data["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert sorted(data["settings"]["event_subscriptions"]["bot_events"]) == [
        "app_home_opened", "message.channels", "message.groups", "message.im"]
    assert data["settings"]["interactivity"]["is_enabled"] is True
    # Works as pasted: Socket Mode needs no request URL.
    assert data["settings"]["socket_mode_enabled"] is True
    assert len(data["display_information"]["long_description"]) >= 175
