"""The knowledge base: help articles read from a folder of Markdown files.

Each article is one ``.md`` file that starts with YAML front matter between two ``---`` lines,
followed by the article body in Markdown::

    ---
    slug: dns-troubleshooting                 # required; lowercase letters, digits, hyphens
    title: DNS troubleshooting                # required; shown to customers
    url: https://help.example.net/articles/dns-troubleshooting   # required; http(s)
    category: Technical                       # required; one of core.models.Category
    self_service: true                        # required; offered before a ticket is filed
    quick_link: false                         # optional (false); listed in the Support Center
    phrasings:                                # how customers describe the problem
      - dns not verifying
      - green checkmarks missing
    keywords:                                 # single strong cues: a term, or a few words
      - spf
      - mx record
    not_for:                                  # near misses: if the text says this, stay quiet
      - transfer domain
    ---
    # DNS troubleshooting
    ...

How the matcher uses them (see :mod:`core.knowledge.suggest`):

- a **phrasing** matches when most of its words (weighted by how specific each word is across
  the knowledge base) occur anywhere in the customer's text, in any order; write several
  short ones in the customer's words rather than one long one;
- a **keyword** matches when all its words occur; keywords add confidence but one keyword
  alone is not enough to offer an article;
- a **not_for** cue fires when its words occur in order (a couple of other words may sit
  between them) and pushes the article below the confidence threshold. Use it for the near
  misses ("refund" on a failed-payment article).

Words are compared after normalisation (case, inflection, common synonyms, typos), so
"emails go to junk" and "e-mail landing in the spam folder" are the same to the matcher.
At least one phrasing or keyword is required; every phrasing, keyword and cue must keep at
least one word after stopwords are removed. ``check_knowledge_base`` reports every problem
with the file name and the field, so an operator can fix a folder in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.knowledge.text import canonical_tokens
from core.models import Category

DEFAULT_ARTICLES_DIR = Path(__file__).with_name("articles")

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_REQUIRED = ("slug", "title", "url", "category", "self_service")
_LIST_FIELDS = ("phrasings", "keywords", "not_for")
_KNOWN_KEYS = frozenset((*_REQUIRED, "quick_link", *_LIST_FIELDS))


class KnowledgeBaseError(Exception):
    """An article folder or article could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("; ".join(self.problems) or "invalid knowledge base")


@dataclass(frozen=True)
class Article:
    """One help article: what it is, where it lives, and the cues that make it match."""

    slug: str
    title: str
    url: str
    category: Category
    self_service: bool
    quick_link: bool = False
    phrasings: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    not_for: tuple[str, ...] = ()
    body: str = ""
    source: str = ""


class KnowledgeBase:
    """An immutable set of articles plus the search index built from them once."""

    def __init__(self, articles: Sequence[Article]) -> None:
        seen: dict[str, Article] = {}
        problems: list[str] = []
        for article in articles:
            if article.slug in seen:
                first = seen[article.slug].source or "another article"
                problems.append(
                    f"{article.source or article.slug}: slug '{article.slug}' is already used "
                    f"by {first}"
                )
            seen[article.slug] = article
        if problems:
            raise KnowledgeBaseError(problems)
        self._articles: tuple[Article, ...] = tuple(articles)
        self._by_slug = seen
        # Imported here: the index depends on Article, and kb is the module that defines it.
        from core.knowledge.suggest import ArticleIndex

        self.index = ArticleIndex(self._articles)

    @property
    def articles(self) -> tuple[Article, ...]:
        return self._articles

    @property
    def self_service(self) -> tuple[Article, ...]:
        return tuple(a for a in self._articles if a.self_service)

    @property
    def quick_links(self) -> tuple[Article, ...]:
        return tuple(a for a in self._articles if a.quick_link)

    def get(self, slug: str) -> Article | None:
        return self._by_slug.get(slug)

    def __getitem__(self, slug: str) -> Article:
        return self._by_slug[slug]

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def __iter__(self) -> Iterator[Article]:
        return iter(self._articles)

    def __len__(self) -> int:
        return len(self._articles)


def load_knowledge_base(path: str | Path | None = None) -> KnowledgeBase:
    """Load every ``*.md`` article in ``path`` (the built-in set when None).

    Raises KnowledgeBaseError listing every problem when any article is invalid.
    """
    folder = Path(path) if path is not None else DEFAULT_ARTICLES_DIR
    articles, problems = _read_folder(folder)
    if problems:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(articles)


def check_knowledge_base(path: str | Path) -> list[str]:
    """Every problem in an article folder, one human-readable line each; empty when valid."""
    _, problems = _read_folder(Path(path))
    return problems


def parse_article(text: str, source: str) -> tuple[Article | None, list[str]]:
    """Parse one article file's text; returns the article (or None) and its problems."""
    front, body, problem = _split_front_matter(text)
    if problem is not None:
        return None, [f"{source}: {problem}"]
    try:
        data: Any = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        reason = str(exc).replace("\n", " ")
        return None, [f"{source}: front matter is not valid YAML ({reason})"]
    if not isinstance(data, dict):
        return None, [f"{source}: front matter must be a mapping of keys to values"]
    problems = [f"{source}: {p}" for p in _validate(data)]
    if problems:
        return None, problems
    article = Article(
        slug=data["slug"],
        title=data["title"].strip(),
        url=data["url"].strip(),
        category=Category.parse(data["category"]),
        self_service=data["self_service"],
        quick_link=bool(data.get("quick_link", False)),
        phrasings=_texts(data.get("phrasings")),
        keywords=_texts(data.get("keywords")),
        not_for=_texts(data.get("not_for")),
        body=body.strip(),
        source=source,
    )
    return article, []


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item).strip() for item in value or ())


def _read_folder(folder: Path) -> tuple[list[Article], list[str]]:
    if not folder.is_dir():
        return [], [f"{folder}: folder not found"]
    files = sorted(folder.glob("*.md"))
    if not files:
        return [], [f"{folder}: no article files (*.md) in this folder"]
    articles: list[Article] = []
    problems: list[str] = []
    first_source: dict[str, str] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file.name}: cannot be read ({exc})")
            continue
        article, article_problems = parse_article(text, file.name)
        problems.extend(article_problems)
        if article is None:
            continue
        if article.slug in first_source:
            problems.append(
                f"{file.name}: slug '{article.slug}' is already used by "
                f"{first_source[article.slug]}"
            )
            continue
        first_source[article.slug] = file.name
        articles.append(article)
    return articles, problems


def _split_front_matter(text: str) -> tuple[str, str, str | None]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return "", "", "no front matter (the file must start with a '---' line)"
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:number]), "\n".join(lines[number + 1 :]), None
    return "", "", "front matter is not closed (no second '---' line)"


def _validate(data: dict[Any, Any]) -> list[str]:
    problems: list[str] = []
    for key in data:
        if key not in _KNOWN_KEYS:
            known = ", ".join(sorted(_KNOWN_KEYS))
            problems.append(f"unknown field '{key}' (known fields: {known})")
    for key in _REQUIRED:
        if key not in data or data[key] is None:
            problems.append(f"'{key}' is missing")

    slug = data.get("slug")
    if slug is not None and (not isinstance(slug, str) or not _SLUG_RE.match(slug)):
        problems.append(
            f"'slug' must be lowercase letters, digits and single hyphens (got {slug!r})"
        )
    title = data.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        problems.append("'title' must be non-empty text")
    url = data.get("url")
    if url is not None and (
        not isinstance(url, str) or not re.match(r"^https?://[^\s/]+\.[^\s]+$", url.strip())
    ):
        problems.append(f"'url' must be an http(s) address (got {url!r})")
    category = data.get("category")
    if category is not None:
        try:
            Category.parse(str(category))
        except ValueError as exc:
            problems.append(f"'category': {exc}")
    for flag in ("self_service", "quick_link"):
        value = data.get(flag)
        if value is not None and not isinstance(value, bool):
            problems.append(f"'{flag}' must be true or false (got {value!r})")

    for key in _LIST_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append(f"'{key}' must be a list of phrases")
            continue
        for position, item in enumerate(value, start=1):
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)  # YAML reads `- 550` as a number; it is meant as text
            if not isinstance(item, str) or not item.strip():
                problems.append(f"'{key}' item {position} must be non-empty text (got {item!r})")
            elif not canonical_tokens(item):
                problems.append(
                    f"'{key}' item {position} ({item!r}) has only stopwords, so it can never "
                    "match; use more specific words"
                )
    if not (data.get("phrasings") or data.get("keywords")):
        problems.append("needs at least one entry in 'phrasings' or 'keywords'")
    return problems
