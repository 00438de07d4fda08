"""The Support Center guide's words that customers see: what support can and can't do, what is
out of scope, what a good ticket holds, and what each plan can expect."""

from __future__ import annotations

from core.models import Plan

CAN = (
    "Reset mailbox passwords if you're locked out as account owner and can't self-serve.",
    'Look up specific delivery events from server logs (e.g. "what happened to my email at 14:30 UTC?").',
    "Investigate deliverability issues, sender reputation, and recommend list hygiene.",
    "Cancel subscriptions on your behalf if the dashboard is malfunctioning.",
    "Issue credit notes / refunds (within reason, on a case-by-case basis).",
    "Restore deleted data (within ~24h, best-effort, not guaranteed).",
    "Investigate API issues and provide debugging guidance.",
    "Recover 2FA after identity verification.",
)
CANT = (
    "Reset your account-owner password without identity verification (anti-impersonation policy).",
    "Tell you a current password (we don't store cleartext).",
    "Run mass actions on your account on your behalf — you do those yourself via dashboard.",
    "Manage your DNS for you — DNS lives at your registrar, we can only guide.",
    "Configure your email client for you (we can guide; you click the buttons).",
    "Investigate issues with your contacts' sending infrastructure or mail servers.",
)
OUT_OF_SCOPE = (
    "Other email providers' issues (your recipient's spam folder behaviour, your other-provider Gmail's filtering).",
    "Marketing content advice (what subject lines work, copywriting).",
    "Migration tooling for proprietary systems we don't have IMAP/import support for.",
    "Custom development of features not in the product.",
)
GOOD_TICKET = (
    "What you were trying to do — the goal, not just the error.",
    "What actually happened — the specific error message, status, or behaviour.",
    "What you've already tried — links to docs you read, settings you changed, restarts you did.",
    "Identifying info — domain name, mailbox address, invoice ID, error timestamps. "
    "Don't share passwords or 2FA secrets in tickets.",
    "A screenshot if it helps illustrate the problem.",
)
SELF_SERVICE_FIRST = (
    ("Mailbox password reset", "self-service-password-reset"),
    ("DNS verification still pending", "dns-troubleshooting"),
    ("Card payment failed", "fixing-failed-payments"),
    ("Email client won't connect", "cant-connect-email-client"),
    ("Emails going to spam", "emails-going-to-spam"),
)
URGENT_HINT = (
    "For genuine emergencies (account locked out, sending suspension you can't resolve, billing "
    'issue blocking critical work), include "URGENT" or "BLOCKING" in the subject.'
)

PLAN_NOTICE = {
    Plan.NANO: (
        "You're on Nano: the Support Center is yours to use, but staff response isn't part of "
        "Nano. Your ticket is recorded and the help articles are the fastest way forward."
    ),
    Plan.STARTER: "Starter: standard ticket queue. Typical first response within business hours.",
    Plan.PRO: "Pro: same queue, often prioritised.",
    Plan.AGENCY: "Agency: Priority Support, fastest response time.",
}

WHAT_NEXT = {
    Plan.NANO: (
        "Staff response isn't part of Nano, so no reply is promised. Add anything new in this "
        "thread; upgrading your plan adds staff support."
    ),
    Plan.STARTER: (
        "It's in the standard queue; expect a first response within business hours. Reply in "
        "this thread to add details or screenshots."
    ),
    Plan.PRO: (
        "It's in the queue and often prioritised. Reply in this thread to add details or "
        "screenshots."
    ),
    Plan.AGENCY: (
        "Priority Support: it's at the front of the queue. Reply in this thread to add details "
        "or screenshots."
    ),
}
