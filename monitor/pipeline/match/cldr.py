"""Term-list entries drawn from the Unicode CLDR: ``@country:KP`` is North Korea's
name in every language CLDR knows (about 170 spellings), read from Babel's copy.

A name is used as CLDR writes it, with two changes that let it match running text:
sort forms ("Korea, North") are left out, and in alphabetic scripts each word of
five letters or more loses up to two final vowels and gains a ``*``, so the
nominative CLDR gives matches the cases of languages that decline names
("Северная Корея" → ``Северн* Коре*`` matches "Северной Кореи", "Korėja" →
``Korėj*`` matches "Korėjos"). Scripts that do not inflect this way (Han, kana,
Hangul, Arabic, Hebrew, Thai ...) keep the name as written; the matcher already finds it
inside words or behind proclitics there.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import babel
from babel import localedata

from monitor.errors import SourceError, TermError
from monitor.pipeline.match.terms import compile_term

SOURCE = re.compile(r"^@country:([A-Za-z]{2}|\d{3})$")
_STEM_MIN = 4  # letters a stem keeps
_STEM_FROM = 5  # shorter words are kept whole
_VOWELS = frozenset(
    "aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿāăąēĕėęěīįıōőœūůűųаеёиоуыэюяіїєαεηιουωάέήίόύώაეიოუ"
)
_ALPHABETIC = re.compile(r"^[A-Za-zÀ-ɏͰ-ϿЀ-ӿა-ჿ]+$")  # Latin, Greek, Cyrillic, Georgian
_EXTRA_LOCALES = ("zh_Hant",)  # Traditional Chinese is a script locale, not a language


def is_source(entry: str) -> bool:
    """Whether a term-list entry is a CLDR source rather than a term."""
    return entry.startswith("@country:")


def expand_entry(entry: str) -> tuple[str, ...]:
    """The terms a CLDR source stands for; raise `SourceError` when it names nothing."""
    found = SOURCE.match(entry.strip())
    if found is None:
        raise SourceError(
            f"{entry!r}: write @country: and a two-letter CLDR region code, e.g. @country:KP"
        )
    code = found.group(1).upper()
    names = _territory_names(code)
    if not names:
        raise SourceError(f"{entry!r}: CLDR has no region {code!r} (codes are ISO 3166, e.g. KP)")
    return names


_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})  # unions, groupings, unknown


@cache
def country_names_in(locale: str) -> dict[str, str]:
    """Every country's CLDR code and name in one locale."""
    territories = localedata.load(locale, merge_inherited=False).get("territories", {})
    return {
        code: name
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES and "," not in name
    }


@cache
def _territory_names(code: str) -> tuple[str, ...]:
    terms: dict[str, None] = {}
    for name in _names_in_every_language(code):
        if "," in name:
            continue
        term = as_term(name)
        try:
            compile_term(term)
        except TermError:
            continue
        terms.setdefault(term, None)
    return tuple(terms)


def _names_in_every_language(code: str) -> list[str]:
    """The region's name in each language locale (not its regional variants)."""
    return _every_territory_name().get(code, [])


@cache
def _every_territory_name() -> dict[str, list[str]]:
    """Every region's names in every language locale, read once per Babel version.

    Reading Babel's 332 locale files takes about a second, on every start of every
    command, for a few hundred bytes per region: the table is kept in the user's
    cache folder ($XDG_CACHE_HOME/monitor, else ~/.cache/monitor) and rebuilt when
    Babel changes. Where that folder cannot be written, the table is built each time.
    """
    path = _cache_folder() / f"cldr-territories-{babel.__version__}.json"
    try:
        cached: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))
        return cached
    except (OSError, ValueError):
        pass
    table: dict[str, list[str]] = {}
    for locale in _language_locales():
        data = localedata.load(locale, merge_inherited=False)
        for region, name in data.get("territories", {}).items():
            table.setdefault(region, []).append(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass
    return table


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monitor"


@cache
def _language_locales() -> tuple[str, ...]:
    return tuple(
        locale
        for locale in localedata.locale_identifiers()
        if "_" not in locale or locale in _EXTRA_LOCALES
    )


def as_term(name: str) -> str:
    """A CLDR name as a term: each word stemmed (so "North Korea" finds "North Korean")."""
    return " ".join("-".join(map(_stem, word.split("-"))) for word in name.split())


def _stem(word: str) -> str:
    """``word`` cut to a prefix that matches its inflected forms (see the module doc)."""
    if len(word) < _STEM_FROM or not _ALPHABETIC.match(word):
        return word
    stem = word
    for _ in range(2):
        if len(stem) > _STEM_MIN and stem[-1].lower() in _VOWELS:
            stem = stem[:-1]
    return f"{stem}*" if stem != word else f"{word}*"
