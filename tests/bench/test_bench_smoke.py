"""The benchmark scripts in bench/ still run and still report every figure. Tiny sizes, and no
timing thresholds: speed is judged from bench/README.md runs, never in tests."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import POSTGRES_URL, postgres_skip_reason

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(script: str) -> ModuleType:
    """bench/ is a folder of scripts, not a package: load one by its path."""
    spec = importlib.util.spec_from_file_location(f"bench_{script}", BENCH / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def require_postgres() -> None:
    if reason := postgres_skip_reason():
        pytest.skip(reason)


def assert_latencies(figures: dict[str, float]) -> None:
    assert set(figures) >= {"p50", "p95", "p99"}
    assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"]


@pytest.mark.postgres
def test_scale_bench_seeds_and_reports_every_query() -> None:
    require_postgres()
    bench_scale = load("bench_scale")
    schema = f"t_bench_{uuid.uuid4().hex[:10]}"

    result = bench_scale.main(
        [
            "--tickets",
            "500",
            "--accounts",
            "20",
            "--runs",
            "5",
            "--url",
            POSTGRES_URL,
            "--schema",
            schema,
            "--drop",
        ]
    )

    assert result["seed"]["tickets"] == 500
    assert 0 < result["seed"]["open"] < 500
    assert len(result["queries"]) == 4
    for figures in result["queries"].values():
        assert_latencies(figures)
    queue = next(v for k, v in result["queries"].items() if "list_tickets" in k)
    assert queue["rows_max"] > 0


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_relay_bench_times_every_reply(backend: str) -> None:
    if backend == "postgres":
        require_postgres()
    bench_relay = load("bench_relay")

    result = bench_relay.main(
        [
            "--backend",
            backend,
            "--replies",
            "12",
            "--tickets",
            "3",
            "--concurrency",
            "3",
            "--url",
            POSTGRES_URL,
        ]
    )

    assert len(result) == 1
    phases = next(iter(result.values()))
    assert len(phases) == 2
    for figures in phases.values():
        assert figures["replies"] == 12
        assert figures["per_second"] > 0
        assert_latencies(figures["relay"])
        assert_latencies(figures["staff_reply_call"])


def test_memory_bench_reports_idle_and_loaded_rss() -> None:
    bench_memory = load("bench_memory")

    result = bench_memory.main(["--backend", "sqlite", "--tickets", "30"])

    assert result["tickets"] == 30
    assert set(result["stages"]) == {"after imports", "idle", "after filing", "after gc"}
    for stage in result["stages"].values():
        assert stage["VmRSS"] > 0
        assert stage["VmHWM"] >= stage["VmRSS"]
