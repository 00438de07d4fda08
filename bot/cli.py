"""The `helpline` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from bot.config_file import ConfigError, load_desk_config
from bot.settings import Settings
from core.errors import HelplineError
from core.models import Category, Plan, Status

EPILOG = """\
Environment: HELPLINE_DATABASE_URL (default sqlite+aiosqlite:///helpline.db), HELPLINE_CONFIG
(TOML file), HELPLINE_HTTP_PORT, SLACK_*, DISCORD_*; see README.md."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="helpline",
        description="Support tickets from Slack and Discord, answered from staff channel threads.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the adapters whose credentials are set, the delivery "
        "worker and the HTTP server (/healthz, /metrics)",
    )
    run.add_argument("--log-format", choices=["text", "json"], help="overrides HELPLINE_LOG_FORMAT")

    console = sub.add_parser(
        "console",
        help="try Helpline in the terminal as customer and staff",
        description="Try Helpline in the terminal. On a terminal it prompts; with input from a "
        "pipe or file it reads one command per line.",
        epilog=_console_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    console.add_argument("--database", help="database URL (default: HELPLINE_DATABASE_URL)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply schema migrations (also done at every start)")
    db_sub.add_parser("current", help="print the schema revision")

    tickets = sub.add_parser("tickets", help="list and show tickets")
    t_sub = tickets.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    t_list = t_sub.add_parser("list", help="tickets in queue order (urgent, plan, age)")
    t_list.add_argument(
        "--status",
        action="append",
        choices=["open", "waiting", "closed", "all"],
        help="repeatable; default open and waiting",
    )
    t_list.add_argument("--category", type=_category)
    t_list.add_argument("--plan", type=_plan)
    t_list.add_argument("--assignee")
    t_list.add_argument("--unassigned", action="store_true")
    t_list.add_argument("--limit", type=int, default=100)
    t_list.add_argument("--json", action="store_true")
    t_show = t_sub.add_parser("show", help="one ticket with its messages and history")
    t_show.add_argument("number", type=_ticket_number)
    t_show.add_argument("--json", action="store_true")

    t_export = t_sub.add_parser(
        "export", help="every ticket with its full history; attachments by content hash"
    )
    t_export.add_argument(
        "--since", type=_date, help="only tickets created on or after (YYYY-MM-DD)"
    )
    t_export.add_argument("--format", choices=["jsonl", "markdown"], default="jsonl")
    t_export.add_argument("--output", type=Path, help="file to write (default: standard output)")

    report = sub.add_parser(
        "report", help="first-response and resolution times, satisfaction, volume by plan/category"
    )
    report.add_argument("--since", type=_date, help="only tickets created on or after (YYYY-MM-DD)")
    report.add_argument("--json", action="store_true")

    accounts = sub.add_parser("accounts", help="map workspaces/guilds to accounts, set plans")
    a_sub = accounts.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    a_list = a_sub.add_parser("list", help="accounts, their plans and workspaces")
    a_list.add_argument("--json", action="store_true")
    a_set = a_sub.add_parser("set", help="create or change an account")
    a_set.add_argument("id")
    a_set.add_argument("--name")
    a_set.add_argument("--plan", type=_plan)
    a_set.add_argument(
        "--white-label",
        dest="white_label",
        action="store_true",
        default=None,
        help="White Label Lite: its customers never see the provider's desk",
    )
    a_set.add_argument("--no-white-label", dest="white_label", action="store_false")
    a_set.add_argument(
        "--staff-channel",
        help="the account's own staff channel (White Label Lite), e.g. slack:C0123",
    )
    a_map = a_sub.add_parser("map", help="attach a workspace to an account")
    a_map.add_argument("workspace", help="slack:TEAM_ID or discord:GUILD_ID")
    a_map.add_argument("account")
    a_unmap = a_sub.add_parser("unmap", help="detach a workspace")
    a_unmap.add_argument("workspace")

    suggest = sub.add_parser("suggest", help="which help articles Helpline would offer for a text")
    suggest.add_argument("text", nargs="+")
    suggest.add_argument("--json", action="store_true")
    suggest.add_argument("--explain", action="store_true", help="show why each article matched")

    kb = sub.add_parser("kb", help="knowledge base tools")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    kb_check = kb_sub.add_parser("check", help="validate a folder of articles")
    kb_check.add_argument(
        "dir",
        nargs="?",
        type=Path,
        help="folder (default: the configured one, else the built-in set)",
    )

    config = sub.add_parser("config", help="configuration tools")
    c_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c_sub.add_parser("check", help="validate the TOML and environment; print effective settings")
    _add_adapter_commands(sub)
    return p


def _add_adapter_commands(sub: Any) -> None:
    """Platform-specific verbs live with their adapters."""
    try:
        from adapters.discord.cli import add_commands
    except ImportError:
        return
    add_commands(sub)


def _console_help() -> str:
    from adapters.console.shell import COMMANDS

    return "Commands:\n" + COMMANDS


def _category(value: str) -> Category:
    try:
        return Category.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _plan(value: str) -> Plan:
    for plan in Plan:
        if plan.value.lower() == value.lower():
            return plan
    raise argparse.ArgumentTypeError(
        f"Unknown plan '{value}'. Choose one of: " + ", ".join(p.value for p in Plan)
    )


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; write YYYY-MM-DD") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ticket_number(value: str) -> int:
    value = value.lstrip("#")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"'{value}' is not a ticket number")
    return int(value)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if hasattr(value, "model_dump"):
        return _jsonable(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:
        print(f"helpline: invalid environment: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_dispatch(args, settings))
    except ConfigError as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    except HelplineError as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command == "run":
        from bot.runner import run

        if args.log_format:
            settings.log_format = args.log_format
        return await run(settings)
    if command == "console":
        return await _console(args, settings)
    if command == "db":
        return await _db(args, settings)
    if command == "tickets":
        return await _tickets(args, settings)
    if command == "suggest":
        return _suggest(args, settings)
    if command == "kb":
        return _kb(args, settings)
    if command == "config":
        return _config_check(settings)
    if command == "report":
        return await _report(args, settings)
    if command == "accounts":
        return await _accounts(args, settings)
    handler = getattr(args, "handler", None)
    if handler is not None:
        result: int = await handler(args, settings)
        return result
    raise AssertionError(command)


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.console.shell import ConsoleClock, run_console
    from adapters.console.transport import ConsoleTransport
    from bot.bootstrap import build_core
    from core.models import Platform

    if args.database:
        settings.database_url = args.database
    clock = ConsoleClock()
    core = await build_core(settings, clock=clock)
    worker = core.start_worker({Platform.CONSOLE: ConsoleTransport(sys.stdout)})
    try:
        await run_console(core.desk, worker, clock=clock)
    finally:
        await core.close()
    return 0


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from core.storage.db import Database

    db = Database(settings.database_url)
    try:
        if args.db_command == "upgrade":
            await db.upgrade()
            print(f"Schema is up to date (revision {await db.current_revision()}).")
        else:
            print(await db.current_revision() or "(empty database)")
    finally:
        await db.dispose()
    return 0


async def _tickets(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_core
    from core.service import TicketFilter

    core = await build_core(settings)
    try:
        if args.tickets_command == "export":
            return await _export(core.desk, args)
        if args.tickets_command == "list":
            words = args.status or ["open", "waiting"]
            states = (
                None
                if "all" in words
                else [
                    {
                        "open": Status.OPEN,
                        "waiting": Status.WAITING_ON_CUSTOMER,
                        "closed": Status.CLOSED,
                    }[w]
                    for w in words
                ]
            )
            tickets = await core.desk.list_tickets(
                TicketFilter(
                    status=states,
                    category=args.category,
                    plan=args.plan,
                    assignee=args.assignee,
                    unassigned=args.unassigned,
                    limit=args.limit,
                )
            )
            if args.json:
                print(json.dumps(_jsonable(tickets), indent=2))
            else:
                for t in tickets:
                    urgent = "URGENT " if t.urgent else ""
                    print(
                        f"#{t.id:<6} {urgent}{t.plan:<8} {t.status:<20} {t.category:<14} "
                        f"{t.assignee or '-':<12} {t.subject}"
                    )
                if not tickets:
                    print("No tickets match.")
            return 0
        detail = await core.desk.ticket_detail(args.number)
        if args.json:
            print(json.dumps(_jsonable(detail), indent=2))
            return 0
        s = detail.summary
        print(
            f"#{s.id} {s.subject}\n  {s.category} · {s.status} · {s.plan} · "
            f"assignee {s.assignee or 'nobody'} · customer {s.customer}"
        )
        for m in detail.messages:
            extra = (
                f" [image {m.attachment.filename} sha256:{m.attachment.sha256[:12]}]"
                if m.attachment
                else ""
            )
            print(f"  {m.at:%Y-%m-%d %H:%M} {m.author} ({m.kind}): {m.body}{extra}")
        print("History:")
        for h in detail.history:
            print(f"  {h.at:%Y-%m-%d %H:%M} {h.actor}: {h.action} {h.detail}")
        return 0
    finally:
        await core.close()


async def _export(desk: Any, args: argparse.Namespace) -> int:
    from core.transcripts import transcript_jsonl, transcript_markdown

    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    count = 0
    try:
        async for detail in desk.export(args.since):
            if args.format == "jsonl":
                out.write(transcript_jsonl(detail) + "\n")
            else:
                out.write(transcript_markdown(detail) + "\n---\n\n")
            count += 1
    finally:
        if args.output:
            out.close()
    print(f"Exported {count} ticket(s).", file=sys.stderr)
    return 0


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_core

    core = await build_core(settings)
    try:
        report = (await core.desk.report(args.since)).as_dict()
    finally:
        await core.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    since = report["since"] or "the beginning"
    print(f"Helpline report since {since}")
    header = (
        f"{'':<16}{'tickets':>8}{'open':>6}{'1st resp med h':>16}{'p90 h':>8}"
        f"{'resolve med h':>15}{'p90 h':>8}{'CSAT':>6}{'n':>4}"
    )

    def line(name: str, g: dict[str, Any]) -> str:
        def f(v: Any) -> str:
            return "-" if v is None else f"{v:g}"

        return (
            f"{name:<16}{g['tickets']:>8}{g['open']:>6}{f(g['first_response_median_h']):>16}"
            f"{f(g['first_response_p90_h']):>8}{f(g['resolution_median_h']):>15}"
            f"{f(g['resolution_p90_h']):>8}{f(g['satisfaction_avg']):>6}{g['ratings']:>4}"
        )

    print(header)
    print(line("All", report["total"]))  # type: ignore[arg-type]
    for title, key in (("By plan", "by_plan"), ("By category", "by_category")):
        print(title)
        for name, group in report[key].items():  # type: ignore[attr-defined]
            print(line("  " + name, group))
    return 0


async def _accounts(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_core

    core = await build_core(settings)
    desk = core.desk
    try:
        if args.accounts_command == "list":
            found = await desk.accounts()
            if args.json:
                print(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
            for a in [] if args.json else found:
                wl = " · White Label Lite" if a.white_label else ""
                staff = f" · staff {a.staff_channel}" if a.staff_channel else ""
                print(f"{a.id:<20} {a.plan:<8} {a.name}{wl}{staff}  [{', '.join(a.workspaces)}]")
            if not found and not args.json:
                print("No accounts yet: unmapped workspaces get the default plan.")
        elif args.accounts_command == "set":
            a = await desk.set_account(
                args.id,
                name=args.name,
                plan=args.plan,
                white_label=args.white_label,
                staff_channel=args.staff_channel,
            )
            print(f"✓ {a.id}: {a.plan}{' · White Label Lite' if a.white_label else ''}")
        elif args.accounts_command == "map":
            await desk.map_workspace(args.workspace, args.account)
            print(f"✓ {args.workspace} → {args.account}")
        else:
            gone = await desk.unmap_workspace(args.workspace)
            print(f"✓ {args.workspace} unmapped" if gone else f"{args.workspace} was not mapped")
    finally:
        await core.close()
    return 0


def _suggest(args: argparse.Namespace, settings: Settings) -> int:
    from core.knowledge import explain_suggestions, load_knowledge_base, suggest_articles

    config = load_desk_config(settings.config_path)
    kb = load_knowledge_base(config.knowledge_base_dir)
    text = " ".join(args.text)
    if args.explain:
        explanations = explain_suggestions(text, kb)
        if args.json:
            print(json.dumps(_jsonable(explanations), indent=2))
            return 0
        for e in explanations:
            mark = "offered" if e.confident else "not confident"
            print(f"{e.score:.2f}  {e.slug}  ({mark})  {e.title}")
            for reason in e.reasons:
                print(f"      - {reason}")
        if not explanations:
            print("No article is close.")
        return 0
    matches = suggest_articles(text, kb)
    if args.json:
        print(json.dumps(_jsonable(matches), indent=2))
        return 0
    for m in matches:
        print(f"{m.score:.2f}  {m.title}  {m.url}")
    if not matches:
        print("No confident suggestion: Helpline would let the customer file the ticket.")
    return 0


def _kb(args: argparse.Namespace, settings: Settings) -> int:
    from core.knowledge import check_knowledge_base

    folder = args.dir
    if folder is None:
        folder = load_desk_config(settings.config_path).knowledge_base_dir
    if folder is None:
        folder = Path(__file__).resolve().parent.parent / "core" / "knowledge" / "articles"
    problems = check_knowledge_base(folder)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    print(f"{folder}: OK")
    return 0


def _config_check(settings: Settings) -> int:
    config = load_desk_config(settings.config_path)
    from core.knowledge import check_knowledge_base

    print("Environment:")
    for name, value in settings.masked().items():
        print(f"  {name} = {value}")
    print(f"Desk configuration ({settings.config_path or 'built-in defaults'}):")
    print(f"  desk_name = {config.desk_name}")
    print(f"  reopen_window_days = {config.reopen_window_days}")
    print(f"  catch_up_days = {config.catch_up_days}")
    print(f"  default_plan = {config.default_plan}")
    print(f"  default_channel = {config.default_channel}")
    for category in Category:
        print(f"  route {category.value:<15} → {config.route_for(category)}")
    for account in config.accounts:
        wl = " white label" if account.white_label else ""
        print(f"  account {account.id}: {account.plan}{wl} ({', '.join(account.workspaces)})")
    warnings = []
    if config.knowledge_base_dir is not None:
        warnings += check_knowledge_base(config.knowledge_base_dir)
    routed = {config.route_for(c).platform.value for c in Category}
    if "slack" in routed and not settings.slack_enabled:
        warnings.append("Some categories route to Slack but Slack credentials are not set.")
    if "discord" in routed and not settings.discord_enabled:
        warnings.append("Some categories route to Discord but DISCORD_BOT_TOKEN is not set.")
    if (settings.slack_enabled or settings.discord_enabled) and routed == {"console"}:
        warnings.append(
            "Every category routes to the console: set default_channel (e.g. "
            "slack:C0123ABC) so staff see tickets in a chat channel."
        )
    for w in warnings:
        print(f"warning: {w}")
    print("Configuration is valid." if not warnings else "Configuration is valid, with warnings.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
