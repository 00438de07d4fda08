"""The intake benchmarks (bench/bench_intake_slack.py, bench_intake_discord.py) still run end to
end and report every figure: tiny sizes on SQLite, and no timing thresholds (speed is judged
from bench/README.md runs, never in tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"
LEVELS = [1, 2]
REQUESTS = 10


def load(script: str) -> ModuleType:
    """bench/ is a folder of scripts, not a package: load one by its path (the Discord script
    imports the Slack one as a sibling, so it is registered under its own name)."""
    if script in sys.modules:
        return sys.modules[script]
    spec = importlib.util.spec_from_file_location(script, BENCH / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[script] = module
    spec.loader.exec_module(module)
    return module


def assert_every_figure(run: dict[str, Any], kinds: tuple[str, ...]) -> None:
    for app in ("helpline", "floor"):
        for kind in kinds:
            for level in LEVELS:
                figures = run[app][kind][level]
                assert figures["ok"] == REQUESTS, (app, kind, level, figures)
                assert 0 < figures["p50_ms"] <= figures["p99_ms"], (app, kind, level, figures)
                assert figures["throughput"] > 0, (app, kind, level, figures)
    for kind in kinds:
        assert all(r > 0 for r in run["ratio"][kind].values()), run["ratio"]


def test_slack_intake_bench_acks_every_kind_and_files_the_tickets(tmp_path: Path) -> None:
    bench = load("bench_intake_slack")

    result = bench.main(["--backend", "sqlite", "--requests", str(REQUESTS), "--concurrency",
                         ",".join(map(str, LEVELS)), "--json", str(tmp_path / "slack.json")])

    run = result["backends"]["sqlite"]
    assert_every_figure(run, bench.KINDS)
    checks = run["checks"]
    filed = checks["tickets_expected"]
    assert filed == REQUESTS * (len(LEVELS) + 1)  # the levels and the warm-up
    assert checks["tickets_in_database"] == filed
    assert checks["submit_outcomes"] == {"Ticket #": filed}
    assert checks["forms_opened"] == checks["reply_threads"] == filed
    assert checks["replies_relayed"] == filed
    assert (tmp_path / "slack.json").exists()


def test_discord_intake_bench_answers_every_kind_and_files_the_tickets() -> None:
    bench = load("bench_intake_discord")

    result = bench.main(["--backend", "sqlite", "--requests", str(REQUESTS), "--concurrency",
                         ",".join(map(str, LEVELS))])

    run = result["backends"]["sqlite"]
    assert_every_figure(run, bench.KINDS)
    checks = run["checks"]
    filed = checks["tickets_expected"]
    assert filed == REQUESTS * (len(LEVELS) + 1)
    assert checks["tickets_in_database"] == filed
    assert checks["submit_outcomes"] == {"created": filed}
    assert checks["customer_threads"] == filed
