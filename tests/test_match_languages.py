"""Matching in the scripts and word shapes of the world's news: Chinese in both
scripts, Arabic and Hebrew proclitics, compounds, Thai distances, CLDR names."""

from __future__ import annotations

import pytest

from monitor.models import Document, TopicDefinition, TopicMatch
from monitor.pipeline.match import build_matcher
from monitor.pipeline.match.cldr import expand_entry
from monitor.pipeline.match.normalize import fold
from monitor.pipeline.match.terms import clitic_forms


def match(query: str, text: str, lists: dict[str, list[str]] | None = None) -> TopicMatch:
    matcher = build_matcher([TopicDefinition("t", query, min_score=0)], lists or {})
    return matcher.match(Document("", text), explain=True)[0]


@pytest.mark.parametrize(
    ("term", "text", "matched"),
    [
        # Chinese: traditional text and terms fold to simplified, so either covers both
        ("北韩", "南韓情報機構說北韓已派兵", True),
        ("北韓", "北韩向俄罗斯派兵", True),
        ('"朝鲜 军队"', "朝鮮軍隊", True),
        ("条约", "俄朝條約生效", True),
        # Arabic: conjunction, preposition and article come off; letter variants merge
        ("قوات", "وأرسلت والقوات", True),
        ("قوات", "بالقوات الكورية", True),
        ("روسيا", "لروسيا في حربها", True),
        ('"كوريا الشمالية"', "وكوريا الشمالية أرسلت", True),
        ("إرسال", "ارسال جنود", True),
        ("معاهدة", "المعاهده الموقعة", True),
        ("قوات", "قواتهم", False),  # suffixes are not taken off: write قوات* for that
        # Persian letters fold onto the Arabic ones
        ('"کره شمالی"', "كره شمالي", True),
        # Hebrew: up to three prefix letters
        ("רוסיה", "ולרוסיה", True),
        ("קוריאה", "מקוריאה", True),
        ("רוסיה", "פרוסיה", False),  # פ is no prefix
        # compounds: a leading * matches the end of a word, *x* inside it
        ("*soldaten", "Elitesoldaten", True),
        ("*soldaten", "Soldatenfriedhof", False),
        ("*soldat*", "Nordkorea-Soldaten", True),
        ("*soldat*", "Elitesoldatinnen", True),
        ('"Nordkorea* *truppen"', "Nordkoreas Spezialtruppen", True),
        ("*trupp*", "Truppe", True),
    ],
)
def test_terms_in_many_scripts(term: str, text: str, matched: bool) -> None:
    assert match(term, text).matched is matched


def test_hits_point_at_the_original_characters_after_folding() -> None:
    text = "報導指出，北韓士兵已抵達"
    result = match("北韩", text)
    hit = result.hits[0]
    assert text[hit.start : hit.end] == "北韓"


def test_arabic_word_with_proclitics_has_its_bare_forms() -> None:
    assert {"والقوات", "القوات", "قوات"} <= set(clitic_forms("والقوات"))
    assert clitic_forms("troops") == ("troops",)


def test_thai_letters_count_as_a_quarter_of_a_word() -> None:
    # 20 Thai letters between the two terms: 5 words, not 10
    text = "เกาหลีเหนือ" + "กขคงจฉชซฌญ" * 2 + "ทหาร"
    assert match("เกาหลีเหนือ NEAR/6 ทหาร", text).matched
    assert not match("เกาหลีเหนือ NEAR/3 ทหาร", text).matched


def test_thai_vowel_signs_count_for_nothing() -> None:
    assert fold("ทหาร").text == "ทหาร"
    spaced = "เกาหลีเหนือ" + "\u0e34" * 40 + "ทหาร"  # forty vowel signs, no letters
    assert match("เกาหลีเหนือ NEAR/1 ทหาร", spaced).matched


@pytest.mark.parametrize(
    "text",
    [
        "Северной Кореи",  # Russian genitive of the nominative CLDR gives
        "z Koreą Północną",  # Polish instrumental
        "Šiaurės Korėjos kariai",  # Lithuanian genitive
        "Pohjois-Korean sotilaat",  # Finnish genitive
        "Βόρειας Κορέας",  # Greek genitive
        "ჩრდილოეთ კორეის",  # Georgian genitive
        "北韓軍人",  # traditional Chinese
        "كوريا الشمالية",
        "בקוריאה הצפונית",  # Hebrew, behind a preposition
        "เกาหลีเหนือส่งทหาร",
        "Triều Tiên",
        "Kuzey Kore'nin",
    ],
)
def test_a_cldr_source_covers_the_country_in_many_languages(text: str) -> None:
    assert match("@kp", text, {"kp": ["@country:KP"]}).matched


def test_a_cldr_source_gives_over_a_hundred_names_and_no_sort_forms() -> None:
    names = expand_entry("@country:KP")
    assert len(names) > 100
    assert not any("," in name for name in names)
    assert "朝鲜" in names and "北朝鮮" in names and "북한" in names


def test_a_cldr_source_does_not_reach_other_countries() -> None:
    assert not match("@kp", "South Korea and Japan", {"kp": ["@country:KP"]}).matched
    assert not match("@kp", "Южная Корея", {"kp": ["@country:KP"]}).matched
