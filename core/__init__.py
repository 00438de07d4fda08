"""Helpline's domain: models, rules, the desk service, storage, outbox and the triage
intelligence. Knows nothing of Slack or Discord."""

from core.knowledge import find_duplicate, load_knowledge_base, suggest_articles

__all__ = ["find_duplicate", "load_knowledge_base", "suggest_articles"]
