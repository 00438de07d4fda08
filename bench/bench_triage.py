"""Triage benchmark: speed of suggestions and duplicate checks, and accuracy on the labelled sets.

Run from the repository root:  .venv/bin/python bench/bench_triage.py [--rounds N]

- suggest_articles on a 1,000-article knowledge base: the built-in articles plus synthetic
  ones generated in memory (phrasings drawn from a Zipf-weighted support vocabulary, so common
  words such as "email" are shared by many articles, as in a real help centre);
- find_duplicate with 100 open tickets;
- the labelled sets in tests/knowledge/data, reported separately: train and dev (written by
  the engineer who tuned the articles' phrasings), holdout (written by another engineer before
  reading the phrasings or those sets) and the two small "fresh" checks written after tuning.

"cold" timings empty every memo first (typo corrections, analysed subjects); "warm" timings
are repeated calls, as in a long-running process.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.knowledge import (
    Article,
    KnowledgeBase,
    find_duplicate,
    load_knowledge_base,
    suggest_articles,
)
from core.knowledge.duplicates import _analyse
from core.knowledge.text import surface_words
from core.models import Category

DATA = Path(__file__).resolve().parents[1] / "tests" / "knowledge" / "data"
SELF_SERVICE = {
    "self-service-password-reset", "dns-troubleshooting", "fixing-failed-payments",
    "cant-connect-email-client", "emails-going-to-spam",
}
SUPPORT_WORDS = """
account address alias archive attachment backup billing bounce browser calendar catchall
certificate change client contact cookie credit csv dashboard delete delivery device domain
download draft email error export filter folder forward gmail header html identity import
inbox invoice key label language limit link list login logo mailbox mobile notification
outlook password payment permission phone plan profile quota record redirect refund reply
report restore rule schedule search security send sender server session setting signature
spam storage subscription sync team template theme timezone token upload user verify webhook
webmail widget not working missing slow broken cannot failed wrong new old change add remove
""".split()


def _read(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


SPLITS = ("train", "dev", "holdout", "fresh1", "fresh2")


def labelled() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every suggestion case and every duplicate case, each row naming its ``split``."""
    mixed = _read("holdout_cases.jsonl") + _read("fresh_cases.jsonl")
    suggest = _read("suggest_cases.jsonl") + [c for c in mixed if c["kind"] == "suggest"]
    duplicate = _read("duplicate_cases.jsonl") + [c for c in mixed if c["kind"] == "duplicate"]
    return suggest, duplicate


def synthetic_knowledge_base(total: int, seed: int = 7) -> KnowledgeBase:
    base = load_knowledge_base()
    rng = random.Random(seed)
    vocabulary = list(dict.fromkeys(
        SUPPORT_WORDS
        + [w for a in base for p in (*a.phrasings, *a.keywords) for w in surface_words(p)]
        + [f"{rng.choice(SUPPORT_WORDS)}{rng.choice(['ing', 'er', 'ly', 'x', 'o'])}{n}"
           for n in range(2500)]
    ))
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(vocabulary))]

    def phrase(low: int, high: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=rng.randint(low, high)))

    categories = list(Category)
    articles = list(base.articles)
    for number in range(total - len(articles)):
        articles.append(Article(
            slug=f"synthetic-{number}",
            title=phrase(2, 5),
            url=f"https://help.example.net/articles/synthetic-{number}",
            category=rng.choice(categories),
            self_service=rng.random() < 0.2,
            phrasings=tuple(phrase(2, 5) for _ in range(12)),
            keywords=tuple(phrase(1, 2) for _ in range(6)),
            not_for=tuple(phrase(1, 3) for _ in range(3)),
        ))
    return KnowledgeBase(articles)


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1000.0


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name:<44} median {statistics.median(ordered):8.1f} µs   "
            f"p99 {p99:8.1f} µs   n={len(ordered)}")


def bench_suggest(rounds: int) -> None:
    texts = [c["text"] for c in labelled()[0]]
    build_start = time.perf_counter()
    kb = synthetic_knowledge_base(1000)
    build = time.perf_counter() - build_start
    print(f"knowledge base: {len(kb)} articles, {len(kb.index.patterns)} patterns, "
          f"built in {build * 1000:.0f} ms")
    cold = [timed(lambda t=t: suggest_articles(t, kb)) for t in texts]
    warm = [timed(lambda t=t: suggest_articles(t, kb)) for _ in range(rounds) for t in texts]
    print(summary("suggest_articles, 1,000 articles, cold", cold))
    print(summary("suggest_articles, 1,000 articles, warm", warm))
    default = load_knowledge_base()
    small = [timed(lambda t=t: suggest_articles(t, default)) for _ in range(rounds) for t in texts]
    print(summary(f"suggest_articles, default {len(default)} articles", small))


def bench_duplicates(rounds: int) -> None:
    cases = labelled()[1]
    pool = list(dict.fromkeys(
        [s for c in cases for _, s in c["open_tickets"]] + [c["subject"] for c in cases]
    ))
    rng = random.Random(11)
    tickets = [(n, rng.choice(pool) + f" #{n}") for n in range(100)]
    subjects = [c["subject"] for c in cases]

    def cold_call(subject: str) -> float:
        _analyse.cache_clear()
        return timed(lambda: find_duplicate(subject, tickets))

    cold = [cold_call(s) for s in subjects]
    warm = [timed(lambda s=s: find_duplicate(s, tickets)) for _ in range(rounds) for s in subjects]
    print(summary("find_duplicate, 100 open tickets, cold", cold))
    print(summary("find_duplicate, 100 open tickets, warm", warm))


def accuracy() -> None:
    kb = load_knowledge_base()
    cases, dup_cases = labelled()
    for split in SPLITS:
        solved = [c for c in cases if c["split"] == split and c["expected"]]
        other = [c for c in cases if c["split"] == split and not c["expected"]]
        hits = sum(c["expected"] in {m.slug for m in suggest_articles(c["text"], kb)}
                   for c in solved)
        quiet = sum(not ({m.slug for m in suggest_articles(c["text"], kb)} & SELF_SERVICE)
                    for c in other)
        print(f"suggest {split:<7}  right article offered {hits}/{len(solved)} "
              f"= {hits / len(solved):.3f}   quiet {quiet}/{len(other)} = {quiet / len(other):.3f}")
    for split in SPLITS:
        tp = fp = fn = 0
        for case in (c for c in dup_cases if c["split"] == split):
            match = find_duplicate(case["subject"], [tuple(t) for t in case["open_tickets"]])
            got = match.ticket_id if match else None
            if case["expected"] is not None and got == case["expected"]:
                tp += 1
                continue
            fp += got is not None
            fn += case["expected"] is not None
        print(f"duplicates {split:<7}  precision {tp / max(tp + fp, 1):.3f}   "
              f"recall {tp / max(tp + fn, 1):.3f}   (tp {tp}, fp {fp}, fn {fn})")


def crowded_accuracy(splits: tuple[str, ...], size: int = 100, seed: int = 5) -> None:
    """Duplicate figures when each customer has ``size`` open tickets: the labelled open
    tickets plus subjects taken from the other cases (exercises the preselection). A match on
    a padding subject counts as a false positive although it is often the same problem
    reworded; ``padding`` says how many of the false positives were such matches."""
    cases = [c for c in labelled()[1] if c["split"] in splits]
    rng = random.Random(seed)
    tp = fp = fn = padding = 0
    for case in cases:
        own = [tuple(t) for t in case["open_tickets"]]
        own_subjects = {s for _, s in own}
        others = [c for c in cases if c["open_tickets"] != case["open_tickets"]]
        pool = list(dict.fromkeys(s for c in others for _, s in c["open_tickets"]))
        pool = [s for s in pool if s not in own_subjects]
        fillers = [(100_000 + n, rng.choice(pool)) for n in range(size - len(own))]
        tickets = fillers + own
        rng.shuffle(tickets)
        match = find_duplicate(case["subject"], tickets)
        got = match.ticket_id if match else None
        if case["expected"] is not None and got == case["expected"]:
            tp += 1
            continue
        fp += got is not None
        fn += case["expected"] is not None
        padding += got is not None and got >= 100_000
    print(f"duplicates, {size} open tickets each ({'+'.join(splits)})  precision "
          f"{tp / max(tp + fp, 1):.3f}   recall {tp / max(tp + fn, 1):.3f}   "
          f"(tp {tp}, fp {fp} of which padding {padding}, fn {fn})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="warm repetitions per text")
    args = parser.parse_args()
    print("== accuracy (labelled sets in tests/knowledge/data) ==")
    accuracy()
    crowded_accuracy(("train", "dev"))
    crowded_accuracy(("holdout",))
    print("== speed ==")
    bench_suggest(args.rounds)
    bench_duplicates(args.rounds)


if __name__ == "__main__":
    main()
