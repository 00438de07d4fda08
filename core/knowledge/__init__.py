"""Triage intelligence: the checks that run before a ticket is filed.

- the knowledge base of help articles (:mod:`core.knowledge.kb`) and the self-service
  suggestions made from it (:mod:`core.knowledge.suggest`);
- duplicate detection against the customer's open tickets (:mod:`core.knowledge.duplicates`);
- details staff want from a ticket's text (:mod:`core.knowledge.details`);
- advice on what a message is missing, in the guide's words (:mod:`core.knowledge.advice`).

Everything is pure: the only I/O is reading an article folder in ``load_knowledge_base``
and ``check_knowledge_base``.
"""

from core.knowledge.advice import TicketPart, missing_parts
from core.knowledge.details import TicketDetails, extract_details
from core.knowledge.duplicates import DuplicateMatch, find_duplicate, subject_similarity
from core.knowledge.kb import (
    Article,
    KnowledgeBase,
    KnowledgeBaseError,
    check_knowledge_base,
    load_knowledge_base,
)
from core.knowledge.suggest import (
    CONFIDENT_SCORE,
    ArticleMatch,
    Explanation,
    explain_suggestions,
    suggest_articles,
)

__all__ = [
    "CONFIDENT_SCORE",
    "Article",
    "ArticleMatch",
    "DuplicateMatch",
    "Explanation",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "TicketDetails",
    "TicketPart",
    "check_knowledge_base",
    "explain_suggestions",
    "extract_details",
    "find_duplicate",
    "load_knowledge_base",
    "missing_parts",
    "subject_similarity",
    "suggest_articles",
]
