"""Folding and tokenizing: a term matches however the page spells it, in any script."""

from __future__ import annotations

import pytest

from monitor.models import Document, TopicDefinition, TopicMatch
from monitor.pipeline.match import build_matcher
from monitor.pipeline.match.normalize import fold
from monitor.pipeline.match.tokens import tokenize


def match(query: str, text: str, title: str = "") -> TopicMatch:
    matcher = build_matcher([TopicDefinition("t", query, min_score=0)], {})
    return matcher.match(Document(title, text), explain=True)[0]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("KURSK", "kursk"),
        ("ＤＰＲＫ １２,０００", "dprk 12,000"),  # NFKC: full-width Latin and digits
        ("ﬁnal", "final"),  # NFKC: ligature
        ("ｶﾀｶﾅ", "カタカナ"),  # NFKC: half-width kana
        ("Corée du Nord", "coree du nord"),
        ("Pjöngjang São Ñandú", "pjongjang sao nandu"),
        ("Straße", "strasse"),
        ("ΟΔΟΣ Αθήνα", "οδοσ αθηνα"),  # final sigma and tonos
        ("Ёж ёлка", "еж елка"),  # Russian writes ё as е
        ("Йошкар-Ола", "йошкар-ола"),  # й is its own letter
        ("Україна їжак", "україна їжак"),  # so is ї
        ("Ґанок Єва", "ґанок єва"),
        ("Nord\u00adkorea", "nordkorea"),  # soft hyphen
        ("İstanbul", "istanbul"),
        ("Łódź Øresund", "lodz oresund"),
        ("북한군은", "북한군은"),  # Hangul is never decomposed
        ("北朝鮮兵が", "北朝鲜兵が"),  # nor kana voicing marks; Han is simplified
        ("e\u0301te\u0301", "ete"),  # decomposed accents are composed, then folded
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text).text == folded


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Die Straße nach Kursk", "Kursk"),
        ("ﬁne ﬁne Kursk", "Kursk"),
        ("Nord\u00adkorea und Kursk", "Kursk"),
        ("ｶﾞｶﾞ Kursk", "Kursk"),
        ("e\u0301te\u0301 Kursk", "Kursk"),
    ],
)
def test_offsets_lead_back_to_the_original_when_folding_changes_lengths(
    text: str, word: str
) -> None:
    result = match("kursk", text)
    hit = result.hits[0]
    assert text[hit.start : hit.end] == word


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("North Korea's troops, (NIS) said.", ["north", "korea", "s", "troops", "nis", "said"]),
        ("nord-coréens l'armée", ["nord", "coreens", "l", "armee"]),
        ("북한군은 1만명을", ["북한군은", "1", "만명을"]),
        ("北朝鮮兵が300人", ["北", "朝", "鲜", "兵", "が", "300", "人"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # vowel signs stay inside the word
        ("КНДР—Росія", ["кндр", "росія"]),
    ],
)
def test_tokens(text: str, tokens: list[str]) -> None:
    assert tokenize(text).tokens == tokens


def test_the_fast_and_the_full_tokenizer_agree_on_latin_text() -> None:
    latin = "Pyongyang's troops—about 12,000—reached Kursk (Russia) on Monday."
    assert tokenize(latin).tokens == tokenize(latin + " 北").tokens[:-1]


@pytest.mark.parametrize(
    ("term", "text", "matched"),
    [
        # Latin and Cyrillic: whole words, explicit * for word starts
        ("war", "a forward position", False),
        ("war", "the war, again", True),
        ("korea", "Korea's army", True),
        ("deploy*", "the Deployment began", True),
        ("deploy", "the deployment began", False),
        ('"north korea*"', "North Koreans fought", True),
        ("nord-coréen*", "des soldats nord-coréennes", True),
        ("Курск*", "в Курской области", True),
        ("КНДР", "военные КНДР, по данным", True),
        ("сапёр*", "саперы прибыли", True),
        ("сапер*", "сапёры прибыли", True),
        ("чайка", "чаика", False),  # й is not и
        ("ИРАН", "иран", True),
        ("Pjöngjang", "Pjongjang", True),
        ("Straße", "Strasse", True),
        ("DPRK", "ＤＰＲＫ sent troops", True),
        ("Nordkorea*", "Nord\u00adkoreas Armee", True),
        # Hangul: at the start of an eojeol, whatever particle follows
        ("북한", "북한군은 러시아에", True),
        ("북한", "북한의 파병", True),
        ("북한", "남북한 관계", False),
        ("러시아", "러시아에서", True),
        ('"북러 조약"', "북러 조약을 비준", True),
        # Japanese and Chinese: anywhere
        ("北朝鮮", "北朝鮮兵がクルスクに", True),
        ("露朝", "政府、露朝新条約に", True),
        ("派兵", "計1万5千人派兵", True),
        ("ロシア", "ロシア軍", True),
        ("北朝鮮兵", "北朝鮮の兵", False),
    ],
)
def test_term_matching_by_script(term: str, text: str, matched: bool) -> None:
    assert match(term, text).matched is matched


def test_hits_report_the_original_spelling_and_context() -> None:
    text = (
        "Officials said on Monday that NORTH KOREAN soldiers had reached the Kursk region by train."
    )
    result = match('"north korean"', text)
    (hit,) = result.hits
    assert text[hit.start : hit.end] == "NORTH KOREAN"
    assert hit.field == "body"
    assert hit.term == "north korean"
    assert (
        hit.context
        == "Officials said on Monday that NORTH KOREAN soldiers had reached the Kursk region…"
    )
