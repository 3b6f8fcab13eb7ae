"""Exact-content fingerprints, shingles and the signature bytes kept in storage."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.pipeline.dedup import Signature, SignatureError, content_hash, normalise, signature
from monitor.pipeline.dedup.minhash import NUM_PERM, SCHEME, containment
from monitor.pipeline.dedup.text import is_cjk, shingles

TEXT = (
    "SEOUL, Jan 13 — Roughly 300 North Korean soldiers have been killed and about 2,700 "
    "wounded fighting for Russia, South Korea's spy agency told parliament on Monday.\n\n"
    "Lawmakers said the agency cited notes found on dead soldiers."
)


@pytest.mark.parametrize(
    "variant",
    [
        TEXT.upper(),
        TEXT.replace(" ", "   "),
        TEXT.replace("\n\n", "\n").replace(" — ", " - "),
        TEXT.replace("Korea's", "Korea’s"),
        "\ufeff  " + TEXT + "\n\n",
        TEXT.replace("300", "３００"),  # full-width digits (NFKC)
    ],
)
def test_same_text_in_another_form_has_the_same_hash(variant: str) -> None:
    assert content_hash(variant) == content_hash(TEXT)


@pytest.mark.parametrize(
    "edit",
    [
        TEXT.replace("300", "400"),
        TEXT.replace("Monday", "Tuesday"),
        TEXT + " More.",
        TEXT[: len(TEXT) // 2],
    ],
)
def test_changed_words_change_the_hash(edit: str) -> None:
    assert content_hash(edit) != content_hash(TEXT)


def test_hash_is_hex_and_stable() -> None:
    digest = content_hash("Hello, world")
    assert len(digest) == 32 and int(digest, 16) >= 0
    assert digest == content_hash("hello world")


def test_normalise_keeps_words_of_every_script() -> None:
    assert normalise("Ким Чен Ын, «Кім Чен Ин»; 北朝鮮兵、約300人。") == (
        "ким чен ын кім чен ин 北朝鮮兵 約300人"
    )


def test_cjk_text_gets_shorter_shingles() -> None:
    japanese = normalise("北朝鮮兵の死者約300人、負傷2700人　韓国情報機関が推計")
    assert is_cjk(japanese)
    assert {len(s) for s in shingles(japanese, 8, 3)} == {3}
    assert not is_cjk(normalise(TEXT))
    assert {len(s) for s in shingles(normalise(TEXT), 8, 3)} == {8}


def test_short_and_empty_texts_have_small_shingle_sets() -> None:
    assert shingles("", 8, 3) == set()
    assert shingles("abc", 8, 3) == {"abc"}


def test_signature_round_trips_through_bytes() -> None:
    sig = signature(TEXT)
    data = sig.to_bytes()
    assert len(data) == 8 + 4 * NUM_PERM
    back = Signature.from_bytes(data)
    assert back.scheme == SCHEME and back.shingles == sig.shingles
    assert np.array_equal(back.values, sig.values)
    assert back.jaccard(sig) == 1.0


def test_signature_is_deterministic_and_order_free() -> None:
    assert np.array_equal(signature(TEXT).values, signature(TEXT).values)
    assert signature(TEXT.upper()).jaccard(signature(TEXT)) == 1.0


@pytest.mark.parametrize(
    "data", [b"", b"M", b"X\x01\x80\x00\x00\x00\x00\x00" + b"\x00" * 512, b"M\x01\x80\x00" + b"\0"]
)
def test_unreadable_bytes_raise(data: bytes) -> None:
    with pytest.raises(SignatureError):
        Signature.from_bytes(data)


def test_signatures_of_other_schemes_cannot_be_compared() -> None:
    sig = signature(TEXT)
    other = Signature(sig.values, sig.shingles, scheme=SCHEME + 1)
    with pytest.raises(SignatureError):
        sig.jaccard(other)


def test_jaccard_estimate_is_close_to_the_truth() -> None:
    words = TEXT.split()
    half = " ".join(words[: len(words) // 2])
    a, b = normalise(TEXT), normalise(half)
    sa, sb = shingles(a, 8, 3), shingles(b, 8, 3)
    truth = len(sa & sb) / len(sa | sb)
    assert abs(signature(TEXT).jaccard(signature(half)) - truth) < 0.15
    assert signature(half).containment(signature(TEXT)) > 0.8


@pytest.mark.parametrize(
    ("jaccard", "a", "b", "expected"),
    [(1.0, 100, 100, 1.0), (0.5, 100, 50, 1.0), (0.0, 100, 100, 0.0), (0.5, 0, 10, 0.0)],
)
def test_containment_from_jaccard_and_sizes(
    jaccard: float, a: int, b: int, expected: float
) -> None:
    assert containment(jaccard, a, b) == pytest.approx(expected)
