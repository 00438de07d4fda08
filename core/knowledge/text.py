"""Text normalisation shared by the article matcher and the duplicate detector.

Customers write "pasword", "log into", "e-mails", "junk", "can't": before anything is compared,
text is turned into a sequence of canonical tokens so that spelling, inflection and a small set
of synonyms stop mattering. The pipeline is:

1. lowercase and unify apostrophes;
2. rewrite multi-word expressions to one canonical token ("two-factor" → ``twofactor``,
   "charged twice" → ``doublecharge``, "can't" → ``not``);
3. split into words, map single-word synonyms ("junk" → ``spam``, "newsletters" → ``email``);
4. stem with a deliberately small suffix stripper (the same on both sides of a comparison, so
   consistency matters more than linguistics);
5. optionally correct typos against a known vocabulary (see :class:`TypoCorrector`).

Everything here is pure; the corrector keeps a memo of words it has already looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

# Multi-word expressions, applied in order to the lowercased text on word boundaries.
# Each entry: pattern, replacement, and trigger substrings (at least one occurs in any text the
# pattern can match), so that a rule is only run on texts that could contain it.
_PHRASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (r"e[\s-]mails?|emails?|e-?mail", "email", ("mail",)),
    (r"web[\s-]mail", "webmail", ("web",)),
    (r"mail[\s-]box(?:es)?", "mailbox", ("box",)),
    (r"pass[\s-]word(?:s)?|mot de passe|kenn[\s-]?wort", "password", ("pass", "wort")),
    (
        r"two[\s-]?factor|2[\s-]?factor|2fa|mfa|multi[\s-]factor|one[\s-]time codes?"
        r"|authenticator(?: app)?|authentication app|totp",
        "twofactor",
        ("factor", "2fa", "mfa", "one", "authent", "totp"),
    ),
    (
        r"log(?:ging|ged|s)?[\s-]?(?:in(?:to)?|on)|sign(?:ing|ed|s)?[\s-]?(?:in(?:to)?|on)"
        r"|signin|logon|login|log-in",
        "login",
        ("log", "sign"),
    ),
    # "can't get into my inbox", "unable to access webmail": a sign-in problem in other words.
    (
        r"(?:(?:get|getting|got) (?:in(?:to)?|access to)|access(?:ing)?)"
        r"(?= (?:to )?(?:my |the |our |his |her |their )?"
        r"(?:inbox|mailbox|account|webmail|emails?)\b)",
        "login",
        ("get", "got", "access"),
    ),
    (r"check[\s-]?marks?|tick[\s-]?marks?|green ticks?|ticks", "checkmark", ("check", "tick")),
    (
        r"charged (?:me )?(?:twice|two times|double)"
        r"|double[\s-]?(?:charged?|billed|billing|payments?)|billed twice|paid twice|charged two"
        r"|(?:two|2) (?:identical |separate |duplicate )?(?:charges|payments|debits|transactions)"
        r"|duplicate (?:charges?|payments?|transactions?)",
        "doublecharge",
        ("charg", "bill", "paid", "double", "two", "2", "duplicate"),
    ),
    (r"money back", "refund", ("money",)),
    (
        r"credit[\s-]?card|debit[\s-]?card|bank[\s-]?card|visa(?: card)?|master[\s-]?card|amex"
        r"|american express",
        "card",
        ("card", "visa", "amex", "american"),
    ),
    (r"api[\s-]?keys?|api[\s-]?tokens?|bearer tokens?|access tokens?", "apikey", ("api", "token")),
    (r"bounce[\s-]?rates?", "bouncerate", ("bounce",)),
    (r"3[\s-]?d[\s-]?secure|3ds", "threedsecure", ("3",)),
    (r"catch[\s-]?all", "catchall", ("catch",)),
    (
        r"auto[\s-]?reply|auto[\s-]?responder|vacation (?:reply|responder)|out of office",
        "autoreply",
        ("auto", "vacation", "office"),
    ),
    (r"bulk folder|junk mail folder", "spam folder", ("folder",)),
    (
        r"(?:gmail|outlook|yahoo|iphone|ios|android|samsung|phone) (?:mail |email )?app"
        r"|(?:iphone|ipad|ios|mac|macos|android|samsung|windows) e?mail"
        r"|apple mail|mail app|mail application|email app|email application|em ?client|mailbird"
        r"|spark mail|airmail|bluemail|postbox|mailspring|k-?9 mail"
        r"|e?mail (?:program|software|reader)",
        "mailapp client",
        ("app", "mail", "client", "program", "postbox", "mailspring", "software", "reader"),
    ),
    # "sent it to a client" is a customer, not an email client.
    (
        r"(?:to|for|with|from) (?:a|an|the|my|our|one|one of (?:my|our)|some|several|many|all)"
        r" (?:new |big |important |few )?clients?\b(?! (?:app|program|software|settings?))",
        "to recipient",
        ("client",),
    ),
    (
        r"end(?:s|ed|ing)? up(?: in| as)?|(?:go|goes|going|gone|went) (?:in)?to"
        r"|(?:go|goes|going|went) in|land(?:s|ed|ing)?(?: in| on)?|put(?:s|ting)? (?:in)?to"
        r"|put(?:s|ting)?(?: [a-z']+){0,3} in(?:to)?(?= (?:the |their |his |her )?(?:spam|junk))"
        r"|ends? in|arriv(?:e|es|ed|ing) in|filtered (?:in)?to|moved to",
        "land",
        ("end", "go", "went", "land", "put", "arriv", "filter", "moved"),
    ),
    (r"set(?:ting)?[\s-]?up|configur(?:e|ed|ing|ation)", "setup", ("set", "configur")),
    (
        r"can ?not|can'?t|cant|could ?not|couldn'?t|unable to|won'?t|wont|doesn'?t|doesnt|does not"
        r"|don'?t|dont|do not|didn'?t|didnt|did not|isn'?t|isnt|is not|aren'?t|arent|are not"
        r"|wasn'?t|was not|never|no longer|not able to|not|no",
        "not",
        ("n't", "not", "no", "cant", "wont", "dont", "didnt", "isnt", "arent", "never", "unable"),
    ),
    (r"un[\s-]?verified", "not verify", ("verified",)),
    (r"un[\s-]?paid", "not payment", ("paid",)),
    # Something that "did not work", "was not accepted" or "did not go through" failed.
    (
        r"not (?:be |been |get |gotten |being )?(?:successful(?:ly)?|succeed(?:ed|s)?"
        r"|process(?:ed)?|go(?:es|ne|ing)? (?:through|thru)|went (?:through|thru)|complete(?:d)?"
        r"|work(?:ed|s|ing)?|accept(?:ed)?)",
        "fail",
        ("not",),
    ),
    (r"not (?:be |been )?charg(?:e|ed)", "charge fail", ("charg",)),
    (r"insufficient funds?|not enough (?:funds?|money)", "fail", ("fund", "money")),
    (r"stopped working|broken", "fail", ("working", "broken")),
    # "I don't know my password any more" is a forgotten password
    (
        r"not (?:know|remember|recall)(?=(?: [a-z']+){0,3} (?:password|login)\b)",
        "forgot",
        ("not",),
    ),
    # "forgot her login", "login details": the credentials, i.e. the password
    (
        r"(?<=forgot |forget )(?:(?:my|his|her|their|the|our) )?login"
        r"|login (?:details|data|info(?:rmation)?|credentials)",
        "password",
        ("login",),
    ),
)

# Each rule: the pattern, its replacement, and its triggers as one regex (a C-speed check).
_PHRASE_RULES: tuple[tuple[re.Pattern[str], str, re.Pattern[str]], ...] = tuple(
    (
        re.compile(rf"\b(?:{pattern})\b"),
        replacement,
        re.compile("|".join(re.escape(t) for t in triggers)),
    )
    for pattern, replacement, triggers in _PHRASES
)

# Single-word synonyms, applied before stemming (keys are lowercase surface forms).
_SYNONYMS: dict[str, str] = {
    "mail": "email",
    "mails": "email",
    "newsletter": "email",
    "newsletters": "email",
    "message": "email",
    "messages": "email",
    "campaign": "email",
    "campaigns": "email",
    "offers": "email",
    "invoices": "invoice",
    "junk": "spam",
    "spambox": "spam",
    "pw": "password",
    "pwd": "password",
    "passwort": "password",
    "passcode": "password",
    "credentials": "password",
    "credential": "password",
    "pass": "password",
    "forget": "forgot",
    "forgotten": "forgot",
    "forgetting": "forgot",
    "remember": "forgot",
    "vergessen": "forgot",
    "recover": "reset",
    "recovery": "reset",
    "recovering": "reset",
    "reseting": "reset",
    "verification": "verify",
    "verifying": "verify",
    "verified": "verify",
    "verifies": "verify",
    "validate": "verify",
    "validation": "verify",
    "validating": "verify",
    "failing": "fail",
    "failed": "fail",
    "fails": "fail",
    "failure": "fail",
    "unsuccessful": "fail",
    # a declined, rejected or refused payment (or login) has failed
    "decline": "fail",
    "declined": "fail",
    "declines": "fail",
    "rejected": "fail",
    "reject": "fail",
    "rejects": "fail",
    "refused": "fail",
    "receiving": "receive",
    "received": "receive",
    "receives": "receive",
    "incoming": "receive",
    "inbound": "receive",
    "recieve": "receive",
    "recieving": "receive",
    "outbound": "outgoing",
    "sending": "send",
    "sent": "send",
    "sends": "send",
    "outside": "external",
    "detected": "found",
    "detect": "found",
    "recognized": "found",
    "recognised": "found",
    "recognize": "found",
    "recognise": "found",
    "find": "found",
    "finds": "found",
    "missing": "missing",
    "phone": "phone",
    "smartphone": "phone",
    "mobile": "phone",
    "cellphone": "phone",
    "prompting": "ask",
    "prompts": "ask",
    "prompt": "ask",
    "asking": "ask",
    "asks": "ask",
    "recipients": "recipient",
    "receivers": "recipient",
    "receiver": "recipient",
    "customers": "recipient",
    "customer": "recipient",
    "clients": "recipient",
    "subscribers": "recipient",
    "price": "pricing",
    "prices": "pricing",
    "cost": "pricing",
    "costs": "pricing",
    "suspend": "suspend",
    "suspended": "suspend",
    "suspension": "suspend",
    "paused": "suspend",
    "blocked": "suspend",
    "bounces": "bounce",
    "bouncing": "bounce",
    "bounced": "bounce",
    "records": "record",
    "domains": "domain",
    "pay": "payment",
    "paying": "payment",
    "payments": "payment",
    "paid": "payment",
    # a charge or a renewal is a payment ("renewal failed" is "payment failed")
    "charge": "charge payment",
    "charged": "charge payment",
    "charges": "charge payment",
    "debit": "charge payment",
    "debited": "charge payment",
    "renewal": "renewal payment",
    "renew": "renewal payment",
    "renewing": "renewal payment",
    "renewed": "renewal payment",
    "renews": "renewal payment",
    "timed": "timeout",
    "timeouts": "timeout",
    "calendars": "calendar",
    "contacts": "contact",
    # nouns and verb forms of the same action ("closure"/"close", "connection"/"connect")
    "connection": "connect",
    "connections": "connect",
    "connecting": "connect",
    "connected": "connect",
    "connects": "connect",
    "reconnect": "connect",
    "entries": "record",
    "entry": "record",
    "closure": "close",
    "closing": "close",
    "cancellation": "cancel",
    "cancelation": "cancel",
    "cancelling": "cancel",
    "canceling": "cancel",
    "cancelled": "cancel",
    "canceled": "cancel",
    "deletion": "delete",
    "migration": "migrate",
    "migrating": "migrate",
    "migrated": "migrate",
    "propagate": "propagation",
    "propagated": "propagation",
    "propagating": "propagation",
    "nameservers": "nameserver",
    "expiry": "expire",
    "expiration": "expire",
    "transaction": "payment",
    "transactions": "payment",
    "refuse": "fail",
    "refuses": "fail",
    "refusing": "fail",
    "misconfigured": "wrong",
    "incorrect": "wrong",
    "incorrectly": "wrong",
    "invalid": "wrong",
    "mailing": "email",
    "mailings": "email",
    "mailshot": "email",
    "mailout": "email",
    "junkmail": "spam",
    "junkbox": "spam",
    "spamfolder": "spam folder",
    # non-native English keeps a few words of the writer's language
    "wachtwoord": "password",
    "kennwort": "password",
    "contrasena": "password",
    "senha": "password",
    "einloggen": "login",
    "anmelden": "login",
    "inloggen": "login",
    # naming a record type says "a DNS record"
    "spf": "spf record",
    "dkim": "dkim record",
    "dmarc": "dmarc record",
    "mx": "mx record",
    "cname": "cname record",
    "txt": "txt record",
    # DNS hosts: naming one says "the records live at my registrar"
    "godaddy": "godaddy registrar",
    "namecheap": "namecheap registrar",
    "cloudflare": "cloudflare registrar",
    "ovh": "ovh registrar",
    "ionos": "ionos registrar",
    "strato": "strato registrar",
    "gandi": "gandi registrar",
    "hostinger": "hostinger registrar",
    "porkbun": "porkbun registrar",
    "route53": "route53 registrar",
    "transip": "transip registrar",
    "infomaniak": "infomaniak registrar",
    # mail apps are also the concept "client"
    "thunderbird": "thunderbird client",
    "outlook": "outlook client",
    "mailapp": "mailapp",
}

# Words that carry no topic. Removed before matching and never typo-corrected.
STOPWORDS: frozenset[str] = frozenset(
    """a an the my our your his her their its i me we us you he she it they them this that these
    those there here is are was were be been being am to of in on at for from with by and or but
    so if as into onto about after before since until while again also just very really too
    have has had do does did done doing will would should could can may might must shall
    please pls plz hi hello hey dear thanks thank thx regards cheers team support help
    how what why when where which who whom whose any some all every each other another such
    i'm im i've ive i'd id it's its there's what's that's let lets one
    yet already still now today yesterday anymore ever even only then than
    get got gets getting go see saw say says said tell know knew think thought want need
    like try trying tried use used using keep keeps kept make made seem seems way
    something anything everything nothing someone anyone thing things
    lot lots much many more most bit little
    hour hours day days week weeks month months minute minutes time times
    """.split()
)


def _stem(word: str) -> str:
    """A tiny, predictable suffix stripper (same result for the same word on both sides)."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, replacement in (
        ("ations", ""),
        ("ation", ""),
        ("ings", ""),
        ("ing", ""),
        ("ies", "y"),
        ("ied", "y"),
        ("ers", "er"),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + replacement
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


_WORD_RE = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_DOMAIN_WORD_RE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}$")
_FILE_SUFFIXES = frozenset(
    "png jpg jpeg gif webp pdf eml csv txt log doc docx xls xlsx zip".split()
)


def _is_domain(word: str) -> bool:
    return bool(_DOMAIN_WORD_RE.match(word)) and word.rsplit(".", 1)[1] not in _FILE_SUFFIXES


def _rewrite_phrases(text: str) -> str:
    """Apply the multi-word rules in order (a rule runs only when one of its triggers occurs)."""
    for pattern, replacement, triggers in _PHRASE_RULES:
        if triggers.search(text):
            text = pattern.sub(replacement, text)
    return text


_ADDRESS_RE = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b")


def surface_words(text: str) -> list[str]:
    """Lowercased words after multi-word rewriting, before synonyms and stemming.

    A whole email address becomes the word "mailbox": to the matcher, "reset
    anna@bakery.de" says "reset mailbox", and the parts of the address mean nothing.
    """
    lowered = text.lower().replace("’", "'").replace("‘", "'")
    lowered = _ADDRESS_RE.sub(" mailbox ", lowered)
    return _WORD_RE.findall(_rewrite_phrases(lowered))


def canonical(word: str) -> str:
    """The canonical token of one surface word (synonym, then stem)."""
    mapped = _SYNONYMS.get(word)
    if mapped is not None:
        return " ".join(_stem(part) for part in mapped.split())
    return _stem(word)


def canonical_tokens(text: str, keep_stopwords: bool = False) -> list[str]:
    """Canonical tokens of ``text`` in order, without typo correction.

    Stopwords are dropped unless ``keep_stopwords`` (used for ordered cues such as
    "too much spam", where the small words are the point).
    """
    result: list[str] = []
    for word in surface_words(text):
        if word in STOPWORDS:
            if keep_stopwords:
                result.append(word)
            continue
        result.extend(canonical(word).split())
        if _is_domain(word):
            result.append("domain")
    return result


def osa_limit(length: int) -> int:
    """Edits tolerated for a word of this length: none below 5 letters, 1 up to 7, then 2."""
    if length < 5:
        return 0
    return 1 if length <= 7 else 2


@dataclass
class TypoCorrector:
    """Maps unknown words to the closest known word, by edit distance.

    Known words are the surface forms of a vocabulary (e.g. every word in the knowledge
    base's phrasings and keywords). A word is corrected only when it is not known, not a
    stopword, at least five letters long, starts with the same letter as the candidate (real
    typos rarely change the first letter), and is within one edit (two for words of 8+ letters,
    transpositions counting as one).
    """

    vocabulary: Iterable[str]
    _known: frozenset[str] = field(init=False)
    _known_stems: frozenset[str] = field(init=False)
    _by_initial: dict[str, list[str]] = field(init=False)
    _memo: dict[str, str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        known = frozenset(w for w in self.vocabulary if w.isalpha())
        self._known = known
        self._known_stems = frozenset(canonical(w) for w in known)
        by_initial: dict[str, list[str]] = {}
        for word in sorted(known):
            if len(word) >= 4:
                by_initial.setdefault(word[0], []).append(word)
        self._by_initial = by_initial

    def correct(self, word: str) -> str | None:
        """The known word ``word`` is a typo of, or None when it is not a (fixable) typo."""
        if word in self._memo:
            return self._memo[word]
        result = self._lookup(word)
        if len(self._memo) < 50_000:
            self._memo[word] = result
        return result

    def _lookup(self, word: str) -> str | None:
        limit = osa_limit(len(word))
        if (
            limit == 0
            or not word.isalpha()
            or word in self._known
            or word in STOPWORDS
            or word in _SYNONYMS
            or canonical(word) in self._known_stems
        ):
            return None
        candidates = self._by_initial.get(word[0])
        if not candidates:
            return None
        best = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=limit)
        if best is None:
            return None
        return str(best[0])


@dataclass(frozen=True)
class Analysis:
    """Canonical tokens of a text plus the typo corrections that were applied.

    ``tokens`` has no stopwords (for bag-of-words matching); ``sequence`` keeps them, in
    order, for cues whose small words matter.
    """

    tokens: tuple[str, ...]
    sequence: tuple[str, ...]
    corrections: tuple[tuple[str, str], ...]

    @property
    def token_set(self) -> frozenset[str]:
        return frozenset(self.tokens)


def analyse(text: str, corrector: TypoCorrector | None = None) -> Analysis:
    """Canonical tokens of ``text``, typo-corrected against ``corrector``'s vocabulary."""
    tokens: list[str] = []
    sequence: list[str] = []
    corrections: list[tuple[str, str]] = []
    for word in surface_words(text):
        if word in STOPWORDS:
            sequence.append(word)
            continue
        if corrector is not None:
            fixed = corrector.correct(word)
            if fixed is not None:
                corrections.append((word, fixed))
                word = fixed
        canon = canonical(word).split()
        if _is_domain(word):  # "bakery.de" is also the word "domain" to the matcher
            canon.append("domain")
        tokens.extend(canon)
        sequence.extend(canon)
    return Analysis(tuple(tokens), tuple(sequence), tuple(corrections))


def contains_in_order(tokens: Sequence[str], cue: Sequence[str], max_gap: int = 2) -> bool:
    """True when every token of ``cue`` occurs in ``tokens`` in order, with at most
    ``max_gap`` other tokens between consecutive cue tokens."""
    if not cue:
        return False
    for start, token in enumerate(tokens):
        if token != cue[0]:
            continue
        position = start
        for wanted in cue[1:]:
            window = tokens[position + 1 : position + 2 + max_gap]
            try:
                position = position + 1 + window.index(wanted)
            except ValueError:
                break
        else:
            return True
    return False
