"""Shared fixtures for the triage tests: the default knowledge base and the labelled sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.knowledge import KnowledgeBase, load_knowledge_base

DATA = Path(__file__).with_name("data")

SELF_SERVICE = frozenset(
    {
        "self-service-password-reset",
        "dns-troubleshooting",
        "fixing-failed-payments",
        "cant-connect-email-client",
        "emails-going-to-spam",
    }
)


def read_cases(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge_base()
