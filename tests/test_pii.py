"""veil.pii: which categories of personal data a recognised string holds."""

from __future__ import annotations

import pickle

import pytest

from veil.errors import ConfigError
from veil.pii import CATEGORIES, PiiRules, categories, fold, load_terms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jan.kowalski@example.com", {"email"}),
        ("E-mail: anna.nowak@firma.pl", {"email"}),
        ("Tel. +48 601 234 567", {"phone"}),
        ("tel 601 234 567", {"phone"}),
        ("+44 20 7946 0958", {"phone"}),  # international form: any region
        ("PESEL: 44051401458", {"national-id"}),
        ("NIP 123-456-32-18", {"tax-id"}),
        ("PL61 1090 1014 0000 0712 1981 2874", {"iban"}),
        ("DE89 3704 0044 0532 0130 00", {"iban"}),
        ("4111 1111 1111 1111", {"card"}),
        ("5555-5555-5555-4444", {"card"}),
        ("RSSMRA85T10A562S", {"tax-id"}),  # codice fiscale
        ("WA 12345", {"plate"}),
        ("KR 1AB23", {"plate"}),
        ("AB-123-CD", {"plate"}),
        ("AB12 CDE", {"plate"}),
        ("Kontakt: anna.nowak@firma.pl, tel. 512 345 678", {"email", "phone"}),
    ],
)
def test_personal_data_is_found(text: str, expected: set[str]) -> None:
    assert categories(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Jan Kowalski",  # names only through the user's terms
        "Price 12.99 PLN",
        "2024-05-14",
        "Open 9-17",
        "OPEN 24H",
        "www.example.com",
        "Model X200",
        "COVID19",
        "ul. Marszalkowska 12/4",
        "EAN 5901234123457",
        "Wyprzedaz do 70% taniej",
        "user@",
    ],
)
def test_ordinary_text_is_not(text: str) -> None:
    assert categories(text) == frozenset()


@pytest.mark.parametrize(
    ("valid", "broken"),
    [
        ("44051401458", "44051401459"),  # PESEL
        ("1234563218", "1234563219"),  # NIP
        ("PL61109010140000071219812874", "PL61109010140000071219812875"),  # IBAN
        ("4111111111111111", "4111111111111112"),  # card
    ],
)
def test_a_wrong_check_digit_is_no_match(valid: str, broken: str) -> None:
    assert categories(valid)
    assert not categories(broken)


def test_a_luhn_valid_number_without_an_issuer_prefix_is_no_card() -> None:
    assert "card" not in categories("1000 0000 0000 0008")


def test_terms_match_whole_words_whatever_the_case_and_accents() -> None:
    rules = PiiRules(terms=("Kowalski", "Łukasz"))
    assert categories("JAN KOWALSKI", rules) == {"term"}
    assert categories("Lukasz", rules) == {"term"}  # OCR dropped the diacritic
    assert categories("Kowalskiego 5", rules) == frozenset()
    assert fold("Łódź Straße") == "lodz strasse"


def test_only_the_enabled_categories_are_reported() -> None:
    rules = PiiRules(enabled=("email",))
    assert categories("Tel. +48 601 234 567, a@example.com", rules) == {"email"}
    assert categories("WA 12345", PiiRules(enabled=("phone",))) == frozenset()


def test_phone_regions_decide_the_national_formats() -> None:
    assert categories("030 123456", PiiRules(regions=("DE",))) == {"phone"}
    assert "phone" not in categories("030 123456", PiiRules(regions=("PL",)))


def test_bad_rules_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'mail'"):
        PiiRules(enabled=("mail",))
    with pytest.raises(ConfigError, match="'XX'"):
        PiiRules(regions=("XX",))


def test_rules_never_show_their_terms_and_pickle() -> None:
    rules = PiiRules(terms=("Kowalski",))
    assert "owalski" not in repr(rules)
    assert categories("Kowalski", pickle.loads(pickle.dumps(rules))) == {"term"}
    assert set(CATEGORIES) >= set(rules.enabled)


def test_terms_file(tmp_path) -> None:
    f = tmp_path / "terms.txt"
    f.write_text("# names\nKowalski\n\n  Anna Nowak  \n", encoding="utf-8")
    assert load_terms(f) == ("Kowalski", "Anna Nowak")
    f.write_text("x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        load_terms(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_terms(tmp_path / "missing.txt")
