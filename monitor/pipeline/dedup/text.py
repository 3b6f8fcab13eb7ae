"""Text normalisation, the exact-content fingerprint and the shingles behind near-duplicates.

Normalised text is NFKC, case-folded, with every run of non-word characters (punctuation,
quotes, dashes, white space) turned into one space. Two copies that differ only in
typography, case, line breaks or spacing normalise to the same string.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

WORDS = re.compile(r"[^\W_]+")
# Hangul, kana, CJK ideographs: scripts where one character carries about a word's worth of
# meaning (and Japanese and Chinese put no spaces between words).
CJK = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"
)
CJK_SHARE = 0.3


def normalise(text: str) -> str:
    """NFKC, case-folded, words separated by single spaces."""
    return " ".join(WORDS.findall(unicodedata.normalize("NFKC", text).casefold()))


def content_hash(text: str) -> str:
    """Hex fingerprint of the normalised text: equal for copies that differ only in form.

    Used for exact-duplicate lookups and by the feed parser as an entry identity that
    survives a changed GUID. 128 bits of BLAKE2b: collisions are not a practical concern.
    """
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=16).hexdigest()


def is_cjk(normal: str) -> bool:
    """Whether a normalised text is mostly written in Hangul, kana or CJK ideographs."""
    letters = len(normal) - normal.count(" ")
    return letters > 0 and len(CJK.findall(normal)) >= CJK_SHARE * letters


def shingles(normal: str, size: int, cjk_size: int) -> set[str]:
    """Overlapping character n-grams of a normalised text.

    Character shingles work the same in every script, with or without spaces between
    words; CJK text gets shorter ones because each character says more.
    """
    k = cjk_size if is_cjk(normal) else size
    if len(normal) <= k:
        return {normal} if normal else set()
    return {normal[i : i + k] for i in range(len(normal) - k + 1)}
