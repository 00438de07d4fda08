"""Self-service suggestions: which help articles solve the problem a customer describes.

Scoring, per article, from the article's own front matter (see :mod:`core.knowledge.kb`):

- **phrasing evidence** — the best phrasing's weighted coverage: the share of its words found
  in the text, each word weighted by how specific it is in this knowledge base (inverse
  document frequency over articles), so "dkim" counts more than "email". A phrasing needs at
  least two of its words (or its only word) before it counts at all;
- **keyword evidence** — each keyword whose words all occur adds confidence with diminishing
  returns; keywords never reach the threshold alone;
- **core words** — a word found in at least :data:`CORE_SHARE` of an article's phrasings is
  what the article is about ("password" for the password reset, "spam" for spam placement).
  A phrasing counts only when the text has the phrasing's most central core word (the one in
  most of the article's phrasings): "new mailbox" must not match "new password for mailbox",
  nor "reset email goes to an old address" the title "Emails going to spam", on two words
  out of three;
- **exclusions** — a ``not_for`` cue found in order in the text multiplies the score by
  :data:`EXCLUSION_FACTOR`, which keeps the article below the threshold.

The two kinds of evidence combine like independent signals,
``1 - (1 - phrasing) * (1 - KEYWORD_SHARE * keywords)``, and an article is offered only at
:data:`CONFIDENT_SCORE` or above. The index maps each word to the phrasings that contain it, so
a query touches only the phrasings that share a word with it; this keeps a 1,000-article base
well under a millisecond.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.knowledge.text import (
    Analysis,
    TypoCorrector,
    analyse,
    canonical_tokens,
    contains_in_order,
    surface_words,
)

if TYPE_CHECKING:
    from core.knowledge.kb import Article, KnowledgeBase

CONFIDENT_SCORE = 0.6
"""Minimum score for an article to be offered before filing."""

KEYWORD_SHARE = 0.6
"""How much keyword evidence can contribute, at most, on its own."""

KEYWORD_DECAY = 0.6
"""Each further keyword hit leaves this share of the remaining doubt (1 hit → 0.4, 2 → 0.64)."""

SINGLE_WORD_PHRASING = 0.45
"""A one-word phrasing is weak evidence: its coverage is scaled by this."""

EXCLUSION_FACTOR = 0.3
"""Score multiplier when a ``not_for`` cue fires."""

MIN_WORD_WEIGHT = 0.3

CORE_SHARE = 0.5
"""A word in at least this share of an article's phrasings (title included) is a core word."""

CORE_MIN_PHRASINGS = 5
"""Articles with fewer phrasings than this have no core words (too little to tell)."""

NEGATION = "not"
"""Canonical negation token: it refines a phrasing but never makes one match on its own."""


def _needed(kind: str, tokens: Sequence[str]) -> int:
    """Words of a pattern that must occur before it counts (negation not included)."""
    content = [t for t in tokens if t != NEGATION]
    if kind == "keyword":
        return max(1, len(content))
    return max(1, min(2, len(content)))


def _core_shares(entries: Sequence[tuple[str, str, tuple[str, ...]]]) -> dict[str, float]:
    """An article's core words, each with the share of its phrasings that contain it:
    words in at least CORE_SHARE of them (negation never counts)."""
    phrasings = [tokens for kind, _, tokens in entries if kind == "phrasing"]
    if len(phrasings) < CORE_MIN_PHRASINGS:
        return {}
    counts = Counter(t for tokens in phrasings for t in set(tokens) if t != NEGATION)
    return {t: n / len(phrasings) for t, n in counts.items() if n >= CORE_SHARE * len(phrasings)}


def _required(core: dict[str, float], tokens: Sequence[str]) -> frozenset[str]:
    """The core word(s) of a phrasing that most of the article's phrasings share."""
    present = [t for t in tokens if t in core]
    if not present:
        return frozenset()
    top = max(core[t] for t in present)
    return frozenset(t for t in present if core[t] == top)


@dataclass(frozen=True)
class ArticleMatch:
    """An article worth offering, with its confidence (0..1)."""

    slug: str
    title: str
    url: str
    score: float
    self_service: bool


@dataclass(frozen=True)
class Explanation:
    """Why an article scored what it did, for ``helpline suggest --explain``."""

    slug: str
    title: str
    score: float
    confident: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Pattern:
    article: int
    kind: str  # "phrasing" or "keyword"
    text: str
    tokens: frozenset[str]
    total_weight: float
    needed: int  # matched words needed before the pattern counts, negation not included
    negated: bool  # the pattern contains the negation token
    required: frozenset[str]  # the phrasing's most central core word(s): one must match


@dataclass
class _ArticleEvidence:
    phrasing: float = 0.0
    best_phrasing: _Pattern | None = None
    best_matched: frozenset[str] = frozenset()
    keywords: list[str] = field(default_factory=list)
    exclusions: list[str] = field(default_factory=list)

    def score(self) -> float:
        keyword_evidence = 1.0 - KEYWORD_DECAY ** len(self.keywords)
        combined = 1.0 - (1.0 - self.phrasing) * (1.0 - KEYWORD_SHARE * keyword_evidence)
        if self.exclusions:
            combined *= EXCLUSION_FACTOR
        return max(0.0, min(1.0, combined))


class ArticleIndex:
    """Everything the matcher needs, precomputed from a set of articles."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.articles = tuple(articles)
        per_article: list[list[tuple[str, str, tuple[str, ...]]]] = []
        vocabulary: set[str] = set()
        document_frequency: Counter[str] = Counter()
        for article in self.articles:
            entries: list[tuple[str, str, tuple[str, ...]]] = []
            title_tokens = tuple(dict.fromkeys(canonical_tokens(article.title)))
            if len(title_tokens) >= 2:  # a one-word title says too little to match on
                entries.append(("phrasing", article.title, title_tokens))
            for kind, texts in (("phrasing", article.phrasings), ("keyword", article.keywords)):
                for text in texts:
                    tokens = tuple(dict.fromkeys(canonical_tokens(text)))
                    if tokens:
                        entries.append((kind, text, tokens))
            for text in (article.title, *article.phrasings, *article.keywords, *article.not_for):
                vocabulary.update(surface_words(text))
            per_article.append(entries)
            document_frequency.update({t for _, _, tokens in entries for t in tokens})

        count = max(len(self.articles), 1)
        self.weights: dict[str, float] = {
            token: max(MIN_WORD_WEIGHT, math.log(1.0 + count / df))
            for token, df in document_frequency.items()
        }
        self.patterns: list[_Pattern] = []
        self.postings: dict[str, list[int]] = {}
        for article_number, entries in enumerate(per_article):
            core = _core_shares(entries)
            for kind, text, tokens in entries:
                pattern = _Pattern(
                    article=article_number,
                    kind=kind,
                    text=text,
                    tokens=frozenset(tokens),
                    total_weight=sum(self.weights[t] for t in tokens),
                    needed=_needed(kind, tokens),
                    negated=NEGATION in tokens,
                    required=_required(core, tokens) if kind == "phrasing" else frozenset(),
                )
                number = len(self.patterns)
                self.patterns.append(pattern)
                for token in pattern.tokens:
                    self.postings.setdefault(token, []).append(number)
        self.exclusions: list[tuple[tuple[str, tuple[str, ...]], ...]] = [
            tuple(
                (cue, tuple(canonical_tokens(cue, keep_stopwords=True)))
                for cue in article.not_for
                if canonical_tokens(cue)
            )
            for article in self.articles
        ]
        self.corrector = TypoCorrector(vocabulary)

    def evaluate(self, text: str) -> tuple[Analysis, dict[int, _ArticleEvidence]]:
        """Evidence for every article that shares at least one word with ``text``."""
        analysis = analyse(text, self.corrector)
        query = analysis.token_set
        hits: Counter[int] = Counter()
        for token in query:
            posting = self.postings.get(token)
            if posting is not None:
                hits.update(posting)

        negated_query = NEGATION in query
        evidence: dict[int, _ArticleEvidence] = {}
        for number, matched_count in hits.items():
            pattern = self.patterns[number]
            if pattern.negated and negated_query:
                matched_count -= 1
            if matched_count < pattern.needed:
                continue
            if pattern.required and pattern.required.isdisjoint(query):
                continue
            found = evidence.get(pattern.article)
            if found is None:
                found = evidence[pattern.article] = _ArticleEvidence()
            if pattern.kind == "keyword":
                found.keywords.append(pattern.text)
                continue
            matched = pattern.tokens & query
            coverage = sum(self.weights[t] for t in matched) / pattern.total_weight
            if len(pattern.tokens) == 1:
                coverage *= SINGLE_WORD_PHRASING
            # On equal coverage the phrasing that matched more words explains the match best.
            if (coverage, len(matched)) > (found.phrasing, len(found.best_matched)):
                found.phrasing = coverage
                found.best_phrasing = pattern
                found.best_matched = matched

        return analysis, evidence

    def apply_exclusions(self, analysis: Analysis, article: int, found: _ArticleEvidence) -> None:
        """Record the article's ``not_for`` cues that occur in the analysed text."""
        for cue, tokens in self.exclusions[article]:
            if contains_in_order(analysis.sequence, tokens):
                found.exclusions.append(cue)


_Ranked = list[tuple[float, int, _ArticleEvidence]]


def _ranked(kb: KnowledgeBase, text: str, wanted: int, minimum: float) -> tuple[Analysis, _Ranked]:
    """The ``wanted`` best articles scoring at least ``minimum``, exclusions applied.

    Exclusions can only lower a score, so they are checked lazily in order of the score
    without them, and checking stops once no unchecked article can still make the list.
    """
    index = kb.index
    analysis, evidence = index.evaluate(text)
    candidates = sorted(
        ((found.score(), number, found) for number, found in evidence.items()),
        key=lambda item: (-item[0], item[1]),
    )
    settled: _Ranked = []
    for upper_bound, number, found in candidates:
        if upper_bound < minimum:
            break
        if len(settled) >= wanted and settled[wanted - 1][0] >= upper_bound:
            break
        index.apply_exclusions(analysis, number, found)
        score = found.score()
        if score >= minimum:
            settled.append((score, number, found))
            settled.sort(key=lambda item: (-item[0], item[1]))
    return analysis, settled[:wanted]


def suggest_articles(text: str, kb: KnowledgeBase, limit: int = 3) -> list[ArticleMatch]:
    """Articles confidently matching ``text``, best first, at most ``limit``; may be empty."""
    if limit <= 0 or not text.strip():
        return []
    _, ranked = _ranked(kb, text, limit, CONFIDENT_SCORE)
    matches: list[ArticleMatch] = []
    for score, number, _ in ranked:
        article = kb.index.articles[number]
        matches.append(
            ArticleMatch(
                slug=article.slug,
                title=article.title,
                url=article.url,
                score=round(score, 3),
                self_service=article.self_service,
            )
        )
    return matches


def explain_suggestions(text: str, kb: KnowledgeBase, limit: int = 5) -> list[Explanation]:
    """The best-scoring articles for ``text`` (confident or not) with the reasons why."""
    if limit <= 0 or not text.strip():
        return []
    analysis, ranked = _ranked(kb, text, limit, minimum=1e-9)
    typo_notes = tuple(f"read '{wrong}' as '{right}'" for wrong, right in analysis.corrections)
    result: list[Explanation] = []
    for score, number, found in ranked:
        article = kb.index.articles[number]
        reasons: list[str] = []
        if found.best_phrasing is not None:
            pattern = found.best_phrasing
            label = "title" if pattern.text == article.title else "phrasing"
            reasons.append(
                f"{label} '{pattern.text}': {len(found.best_matched)} of "
                f"{len(pattern.tokens)} words ({', '.join(sorted(found.best_matched))}), "
                f"coverage {found.phrasing:.2f}"
            )
        if found.keywords:
            reasons.append("keywords: " + ", ".join(f"'{k}'" for k in found.keywords))
        for cue in found.exclusions:
            reasons.append(f"not for '{cue}': score x{EXCLUSION_FACTOR}")
        reasons.extend(typo_notes)
        if score < CONFIDENT_SCORE:
            reasons.append(f"below the confidence threshold {CONFIDENT_SCORE}")
        result.append(
            Explanation(
                slug=article.slug,
                title=article.title,
                score=round(score, 3),
                confident=score >= CONFIDENT_SCORE,
                reasons=tuple(reasons),
            )
        )
    return result
