"""Does a line of recognised text hold personal data? Which kinds?

:func:`categories` is a pure function: one recognised string in, the set of
categories it holds out (empty: none). It is what ``--text pii`` masks by. The
checks are done by well-kept libraries wherever one exists, never by a
hand-written rule that one of them covers:

- ``phone``: ``phonenumbers`` (Google's libphonenumber), numbers valid in one of
  the configured regions or written internationally (``+48 ...``);
- ``iban``, ``card``, ``national-id``, ``tax-id``: ``python-stdnum``, each
  candidate validated by its checksum (payment cards: Luhn on a known issuer
  prefix; IDs: PESEL, NIP and the other national modules listed in :data:`IDS`);
- ``email``: ``email-validator`` on the candidates of a loose pattern (syntax
  only, nothing is looked up);
- ``term``: any term of the user's list (``--text-terms``), whole words,
  case and accents ignored (OCR drops diacritics). Names are found this way
  only: no name list on PyPI is both kept up to date and of a known, lawful
  source, so veil ships none (docs/text.md);
- ``plate``: licence-plate-like strings (a hand-written shape, as no library
  knows every country's plates), for plates the plate detector did not cover.

The text is personal data: nothing here logs it, and no result carries it.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

#: every category :func:`categories` can report, in report order
CATEGORIES: tuple[str, ...] = (
    "email",
    "phone",
    "iban",
    "card",
    "national-id",
    "tax-id",
    "term",
    "plate",
)

#: python-stdnum modules checked on each candidate: (module, category, compact lengths)
IDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("pl.pesel", "national-id", (11,)),
    ("pl.nip", "tax-id", (10,)),
    ("de.idnr", "tax-id", (11,)),
    ("fr.nir", "national-id", (15,)),
    ("fr.nif", "tax-id", (13,)),
    ("es.dni", "national-id", (9,)),
    ("es.nie", "national-id", (9,)),
    ("it.codicefiscale", "tax-id", (16,)),
    ("nl.bsn", "national-id", (9,)),
    ("be.nn", "national-id", (11,)),
    ("se.personnummer", "national-id", (10, 12)),
    ("fi.hetu", "national-id", (11,)),
    ("dk.cpr", "national-id", (10,)),
    ("no.fodselsnummer", "national-id", (11,)),
    ("cz.rc", "national-id", (9, 10)),
    ("sk.rc", "national-id", (9, 10)),
    ("ro.cnp", "national-id", (13,)),
    ("bg.egn", "national-id", (10,)),
    ("ee.ik", "national-id", (11,)),
    ("lt.asmens", "national-id", (11,)),
    ("hr.oib", "tax-id", (11,)),
    ("si.emso", "national-id", (13,)),
    ("pt.nif", "tax-id", (9,)),
    ("ie.pps", "tax-id", (8, 9)),
    ("us.ssn", "national-id", (9,)),
    ("eu.vat", "tax-id", tuple(range(8, 15))),
)

#: payment-card issuer prefixes (Visa, Mastercard, Amex, Discover, JCB, Maestro,
#: UnionPay, Diners): Luhn alone passes one random number in ten
_CARD_PREFIX = re.compile(r"^(4|5[1-5]|2[2-7]|3[47]|3[068]|6011|64[4-9]|65|35|5018|5020|5038|62)")
#: a loose e-mail shape; email-validator decides
_EMAIL = re.compile(r"[\w.+\-']+\s?@\s?[\w\-]+(?:\s?\.\s?[\w\-]+)+", re.UNICODE)
#: runs of letters and digits, with the separators numbers are written with inside them
_PIECE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-./]*[A-Za-z0-9])?")
#: a plate, compacted: a letter first, 5-8 capitals and digits, at most 4 letters, 3 digits or more
_PLATE = re.compile(
    r"^(?:(?=(?:[A-Z0-9]*\d){3})(?!(?:[0-9]*[A-Z]){5})[A-Z][A-Z0-9]{4,7}"
    r"|[A-Z]{2}\d{2}[A-Z]{3})$"  # or the British shape, five letters and two digits
)
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")
#: the separators a candidate number is compacted of
_SEPARATORS = re.compile(r"[\s\-./]")
#: the longest run of pieces one number is assumed to be written in (an IBAN: 8 groups)
MAX_PIECES = 8


def fold(text: str) -> str:
    """Case and accents folded (``'Łódź'`` -> ``'lodz'``): how terms are compared."""
    text = text.replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("Ø", "O")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.cache
def _module(name: str):  # noqa: ANN202 - a python-stdnum module
    return importlib.import_module(f"stdnum.{name}")


@dataclass(frozen=True)
class PiiRules:
    """What :func:`categories` looks for; frozen and picklable (it travels to workers).

    ``regions`` are the ISO 3166 codes whose national phone formats are tried
    (numbers in international form match whatever the region); ``terms`` are
    the user's terms, kept folded (:func:`fold`).
    """

    enabled: tuple[str, ...] = CATEGORIES
    regions: tuple[str, ...] = ("PL",)
    terms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "enabled", tuple(self.enabled))
        object.__setattr__(self, "regions", tuple(r.upper() for r in self.regions))
        object.__setattr__(self, "terms", tuple(fold(t).strip() for t in self.terms))
        for c in self.enabled:
            if c not in CATEGORIES:
                raise ConfigError(
                    f"unknown text category {c!r}; expected one of {', '.join(CATEGORIES)}"
                )
        import phonenumbers

        known = phonenumbers.SUPPORTED_REGIONS
        for r in self.regions:
            if r not in known:
                raise ConfigError(f"unknown phone region {r!r}; expected an ISO 3166 code")
        if any(len(t) < 2 for t in self.terms):
            raise ConfigError("text terms must be at least 2 characters long")

    def __repr__(self) -> str:  # the terms are personal data: reprs end up in logs
        return f"PiiRules(enabled={self.enabled}, regions={self.regions}, terms={len(self.terms)})"

    @functools.cached_property
    def _terms_pattern(self) -> re.Pattern[str] | None:
        if not self.terms:
            return None
        alternatives = sorted({re.escape(t) for t in self.terms}, key=len, reverse=True)
        return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def load_terms(path: str | Path) -> tuple[str, ...]:
    """The terms of a user's file: one a line, UTF-8; blank lines and ``#`` comments skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"text terms file {path}: cannot read it ({reason})") from None
    terms = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) < 2:
            raise ConfigError(f"text terms file {path}, line {number}: a term needs 2 characters")
        terms.append(line)
    return tuple(terms)


def categories(text: str, rules: PiiRules | None = None) -> frozenset[str]:
    """The categories of personal data in one recognised string (empty: none)."""
    rules = rules or PiiRules()
    on = set(rules.enabled)
    found: set[str] = set()
    if "email" in on and _has_email(text):
        found.add("email")
    if "phone" in on:
        text, phone = _cut_phones(text, rules.regions)
        if phone:
            found.add("phone")
    terms = rules._terms_pattern if "term" in on else None
    if terms is not None and terms.search(fold(text)):
        found.add("term")
    if on & {"iban", "card", "national-id", "tax-id", "plate"}:
        found |= _numbers(text, on)
    return frozenset(found)


def _has_email(text: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    for m in _EMAIL.finditer(text):
        try:
            validate_email(re.sub(r"\s", "", m.group(0)), check_deliverability=False)
        except EmailNotValidError:
            continue
        return True
    return False


def _cut_phones(text: str, regions: Sequence[str]) -> tuple[str, bool]:
    """``text`` with its phone numbers blanked out (their digits are no ID), and whether any."""
    import phonenumbers

    if sum(c.isdigit() for c in text) < 6:
        return text, False
    found = False
    for region in regions or (None,):
        for m in phonenumbers.PhoneNumberMatcher(text, region, phonenumbers.Leniency.VALID):
            text = text[: m.start] + " " * (m.end - m.start) + text[m.end :]
            found = True
    return text, found


def _runs(text: str) -> Iterable[tuple[str, int, bool]]:
    """Every run of up to :data:`MAX_PIECES` adjacent pieces: compacted and upper-cased,
    with its number of pieces and whether it was written in capitals (plates are).

    A number is written in groups (``PL61 1090 1014 ...``, ``4111 1111 ...``)
    and a line holds words around it, so each run is tried on its own.
    """
    pieces = [m.group(0) for m in _PIECE.finditer(text)]
    for i in range(len(pieces)):
        for j in range(i + 1, min(len(pieces), i + MAX_PIECES) + 1):
            run = "".join(pieces[i:j])
            yield _SEPARATORS.sub("", run).upper(), j - i, not any(c.islower() for c in run)


def _numbers(text: str, on: set[str]) -> set[str]:
    """Checksummed numbers in ``text``; plate-like strings only where no number was found."""
    found: set[str] = set()
    plate = False
    ids = [(m, c, n) for m, c, n in IDS if c in on]
    for compact, pieces, upper in _runs(text):
        digits = sum(c.isdigit() for c in compact)
        if upper and pieces <= 3 and _PLATE.match(compact):
            plate = True
        if digits < 7:
            continue
        if "iban" in on and _IBAN.fullmatch(compact) and _module("iban").is_valid(compact):
            found.add("iban")
            continue
        card = compact.isdigit() and 13 <= len(compact) <= 19 and _CARD_PREFIX.match(compact)
        if "card" in on and card and _module("luhn").is_valid(compact):
            found.add("card")
            continue
        for name, category, lengths in ids:
            if category in found or len(compact) not in lengths:
                continue
            if _module(name).is_valid(compact):
                found.add(category)
    if plate and "plate" in on and not found:
        found.add("plate")
    return found


__all__ = ["CATEGORIES", "IDS", "PiiRules", "categories", "fold", "load_terms"]
