"""Loading and validating article folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.knowledge import (
    Article,
    KnowledgeBase,
    KnowledgeBaseError,
    check_knowledge_base,
    load_knowledge_base,
)
from core.models import Category

from .conftest import SELF_SERVICE

GOOD = """---
slug: vacation-replies
title: Set up a vacation reply
url: https://help.example.net/articles/vacation-replies
category: Technical
self_service: false
phrasings:
  - set up an auto reply
keywords:
  - out of office
---
# Set up a vacation reply
Open the mailbox settings.
"""


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_default_knowledge_base_has_the_five_self_service_articles(kb: KnowledgeBase) -> None:
    assert {a.slug for a in kb.self_service} == SELF_SERVICE
    assert {"using-the-support-center", "status-page", "contact-options"} <= {
        a.slug for a in kb.quick_links
    }


def test_default_articles_are_valid_and_have_bodies(kb: KnowledgeBase) -> None:
    assert check_knowledge_base(Path(__file__).parents[2] / "core/knowledge/articles") == []
    for article in kb:
        assert article.url.startswith("https://")
        assert isinstance(article.category, Category)
        assert len(article.body) > 200, article.slug
    assert kb["fixing-failed-payments"].category is Category.BILLING
    assert "refund" in kb["fixing-failed-payments"].not_for


def test_load_reads_a_custom_folder(tmp_path: Path) -> None:
    write(tmp_path, "vacation.md", GOOD)
    kb = load_knowledge_base(tmp_path)
    article = kb["vacation-replies"]
    assert article.phrasings == ("set up an auto reply",)
    assert article.keywords == ("out of office",)
    assert article.quick_link is False
    assert article.body.startswith("# Set up a vacation reply")
    assert article.source == "vacation.md"


def test_broken_folder_reports_every_problem_with_file_and_field(tmp_path: Path) -> None:
    write(tmp_path, "ok.md", GOOD)
    write(tmp_path, "no-front-matter.md", "# Just a heading\n")
    write(tmp_path, "bad-category.md", GOOD.replace("Technical", "Plumbing").replace(
        "vacation-replies", "other-slug"))
    write(tmp_path, "missing-url.md", GOOD.replace(
        "url: https://help.example.net/articles/vacation-replies\n", "").replace(
        "vacation-replies", "third"))
    write(tmp_path, "typo-key.md", GOOD.replace("keywords:", "keyword:").replace(
        "vacation-replies", "fourth"))
    write(tmp_path, "flag.md", GOOD.replace("self_service: false", "self_service: maybe")
          .replace("vacation-replies", "fifth"))
    write(tmp_path, "same-slug.md", GOOD)
    write(tmp_path, "stopwords.md", GOOD.replace("set up an auto reply", "how do I")
          .replace("vacation-replies", "sixth"))
    write(tmp_path, "yaml.md", "---\nslug: [unclosed\n---\nbody\n")

    problems = check_knowledge_base(tmp_path)
    text = "\n".join(problems)
    assert "no-front-matter.md: no front matter" in text
    assert "bad-category.md: 'category'" in text and "Plumbing" in text
    assert "missing-url.md: 'url' is missing" in text
    assert "typo-key.md: unknown field 'keyword'" in text
    assert "flag.md: 'self_service' must be true or false" in text
    assert "same-slug.md: slug 'vacation-replies' is already used by ok.md" in text
    assert "stopwords.md: 'phrasings' item 1" in text
    assert "yaml.md: front matter is not valid YAML" in text
    assert not any(p.startswith("ok.md") for p in problems)

    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(tmp_path)
    assert raised.value.problems == problems


def test_check_reports_missing_or_empty_folder(tmp_path: Path) -> None:
    assert "folder not found" in check_knowledge_base(tmp_path / "nope")[0]
    assert "no article files" in check_knowledge_base(tmp_path)[0]


def test_numbers_in_cue_lists_are_read_as_text(tmp_path: Path) -> None:
    write(tmp_path, "a.md", GOOD.replace("keywords:\n", "not_for:\n  - 550\nkeywords:\n"))
    assert load_knowledge_base(tmp_path)["vacation-replies"].not_for == ("550",)


def test_article_needs_a_phrasing_or_keyword(tmp_path: Path) -> None:
    bare = GOOD.replace("phrasings:\n  - set up an auto reply\nkeywords:\n  - out of office\n", "")
    write(tmp_path, "bare.md", bare)
    assert check_knowledge_base(tmp_path) == [
        "bare.md: needs at least one entry in 'phrasings' or 'keywords'"
    ]


def test_knowledge_base_built_in_memory_rejects_duplicate_slugs() -> None:
    article = Article(
        slug="a", title="A title", url="https://x.net/a", category=Category.OTHER,
        self_service=False, phrasings=("some phrase",),
    )
    with pytest.raises(KnowledgeBaseError):
        KnowledgeBase([article, article])
