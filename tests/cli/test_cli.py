"""The `helpline` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def helpline(tmp_path: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("SLACK_", "DISCORD_", "HELPLINE_"))}
    full_env["HELPLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, text=True,
                          capture_output=True, env=full_env, cwd=tmp_path, timeout=120)


def test_run_without_credentials_says_what_to_set_and_points_to_the_console(tmp_path: Path) -> None:
    proc = helpline(tmp_path, "run")
    assert proc.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN",
                 "helpline console"):
        assert name in proc.stderr


def test_tickets_list_and_show_as_json_after_filing_in_the_console(tmp_path: Path) -> None:
    script = ("new Billing | Copy of invoice INV-2024-0415 | Please send a copy of invoice "
              "INV-2024-0415 for our accountant.\n")
    assert helpline(tmp_path, "console", stdin=script).returncode == 0
    listed = helpline(tmp_path, "tickets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    tickets = json.loads(listed.stdout)
    assert [t["subject"] for t in tickets] == ["Copy of invoice INV-2024-0415"]
    shown = helpline(tmp_path, "tickets", "show", str(tickets[0]["id"]), "--json")
    detail = json.loads(shown.stdout)
    assert detail["summary"]["status"] == "Open"
    assert detail["messages"][0]["body"].startswith("Please send a copy")
    assert "INV-2024-0415" in detail["card"]["details"]["invoice_ids"]
    assert helpline(tmp_path, "tickets", "show", "99").returncode == 1


def test_tickets_list_rejects_an_unknown_category_with_the_choices(tmp_path: Path) -> None:
    proc = helpline(tmp_path, "tickets", "list", "--category", "Refunds")
    assert proc.returncode == 2 and "Choose one of: Billing" in proc.stderr


def test_suggest_offers_the_article_and_explains(tmp_path: Path) -> None:
    proc = helpline(tmp_path, "suggest", "--json", "customers say my newsletters end up in junk")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)[0]["slug"] == "emails-going-to-spam"
    explained = helpline(tmp_path, "suggest", "--explain", "dns not verifying")
    assert "dns-troubleshooting" in explained.stdout


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    first = helpline(tmp_path, "db", "upgrade")
    second = helpline(tmp_path, "db", "upgrade")
    assert first.returncode == second.returncode == 0
    assert second.stdout == first.stdout and "Schema is up to date (revision 0" in first.stdout
    assert helpline(tmp_path, "db", "current").stdout.strip() in first.stdout


def test_config_check_masks_secrets_and_reports_bad_toml(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('default_channel = "slack:C0STAFF"\ncatch_up_days = 3\n'
                    '[routing]\nBilling = "slack:C0BILL"\n')
    proc = helpline(tmp_path, "config", "check", env={
        "HELPLINE_CONFIG": str(good), "SLACK_BOT_TOKEN": "xoxb-1234567890-secret",
        "SLACK_SIGNING_SECRET": "abcdef0123456789"})
    assert proc.returncode == 0, proc.stderr
    assert "xoxb-1234567890-secret" not in proc.stdout and "abcdef0123456789" not in proc.stdout
    assert "route Billing         → slack:C0BILL" in proc.stdout
    assert "catch_up_days = 3" in proc.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('reopen_window_days = -3\n[routing]\nBilling = "carrier-pigeon"\n')
    proc = helpline(tmp_path, "config", "check", env={"HELPLINE_CONFIG": str(bad)})
    assert proc.returncode == 2
    assert "reopen_window_days" in proc.stderr and "routing" in proc.stderr


@pytest.mark.parametrize("article_problem", ["missing_slug", "bad_category"])
def test_kb_check_names_the_file_and_the_problem(tmp_path: Path, article_problem: str) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    front = {"missing_slug": "title: A\nurl: https://x/a\ncategory: Technical\nself_service: false\n",
             "bad_category": "slug: a\ntitle: A\nurl: https://x/a\ncategory: Refunds\n"
                             "self_service: false\n"}[article_problem]
    (folder / "a.md").write_text(f"---\n{front}---\nBody text.\n")
    proc = helpline(tmp_path, "kb", "check", str(folder))
    assert proc.returncode == 1
    assert "a.md" in proc.stdout
    assert helpline(tmp_path, "kb", "check").returncode == 0


def test_console_help_documents_the_commands(tmp_path: Path) -> None:
    proc = helpline(tmp_path, "console", "--help")
    assert proc.returncode == 0
    for command in ("center", "new", "continue", "solved", "reply", "queue", "note", "close",
                    "wait"):
        assert command in proc.stdout


def test_the_readme_configuration_example_is_valid(tmp_path: Path) -> None:
    from bot.config_file import load_desk_config
    from core.models import Category, Plan

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "helpline.toml"
    path.write_text(example)
    (tmp_path / "kb").mkdir()
    config = load_desk_config(path)
    assert str(config.route_for(Category.BILLING)) == "slack:C0456BILLING"
    assert config.account_for(*_platform_ws("slack:T0BAKERY")).plan is Plan.AGENCY


def _platform_ws(ref: str):  # type: ignore[no-untyped-def]
    from core.models import Platform

    platform, ws = ref.split(":")
    return Platform(platform), ws


def test_accounts_report_and_export_from_the_command_line(tmp_path: Path) -> None:
    assert helpline(tmp_path, "accounts", "set", "acme", "--name", "Acme", "--plan", "Agency"
                    ).returncode == 0
    assert helpline(tmp_path, "accounts", "map", "console:local", "acme").returncode == 0
    listed = json.loads(helpline(tmp_path, "accounts", "list", "--json").stdout)
    assert listed == [{"id": "acme", "name": "Acme", "plan": "Agency", "white_label": False,
                       "staff_channel": None, "workspaces": ["console:local"]}]
    bad = helpline(tmp_path, "accounts", "map", "myspace", "acme")
    assert bad.returncode == 1 and "slack:TEAM_ID" in bad.stderr
    script = ("new Billing | Copy of invoice INV-2024-0415 | Please send a copy of invoice "
              "INV-2024-0415 for our accountant.\nstaff sam\nreply 1 Sent it to you just now.\n"
              "note 1 internal remark for the team\nclose 1\ncustomer alice\nrate 1 5 great\n")
    out = helpline(tmp_path, "console", stdin=script).stdout
    assert "Thanks for rating ticket #1: 5/5." in out
    report = json.loads(helpline(tmp_path, "report", "--json").stdout)
    assert report["total"]["tickets"] == 1 and report["by_plan"]["Agency"]["satisfaction_avg"] == 5
    table = helpline(tmp_path, "report").stdout
    assert "By plan" in table and "Agency" in table
    export = tmp_path / "export.jsonl"
    assert helpline(tmp_path, "tickets", "export", "--output", str(export)).returncode == 0
    [record] = [json.loads(line) for line in export.read_text().splitlines()]
    assert record["id"] == 1 and any(m["kind"] == "note" for m in record["messages"])
    md = helpline(tmp_path, "tickets", "export", "--format", "markdown", "--since", "2999-01-01")
    assert md.returncode == 0 and md.stdout == ""
    assert helpline(tmp_path, "report", "--since", "yesterday").returncode == 2
