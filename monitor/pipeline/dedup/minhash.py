"""MinHash signatures of article text, and their bytes for a database column.

The MinHash itself is rensa's ``RMinHash`` (Rust): about 40 µs for a 1,000-character article
against 0.9 ms for datasketch's ``MinHash`` with the same number of permutations, with the
same accuracy (both are plain MinHash). Its output is deterministic across processes and
platforms for a given seed, which is what makes a stored signature reusable after a restart.

Bytes layout (little-endian), 8 + 4 × ``num_perm`` bytes (520 for the default)::

    b"M" | scheme: u8 | num_perm: u16 | shingles: u32 | values: u32 × num_perm

``scheme`` names everything that decides the values (normalisation, shingle sizes, seed,
rensa's algorithm version). Signatures of different schemes cannot be compared; the index
refuses them, and the orchestrator re-signs those articles from their stored text.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rensa  # type: ignore[import-untyped]

from monitor.errors import SignatureError
from monitor.pipeline.dedup.text import normalise, shingles

SHINGLE = 8
"""Characters per shingle (Latin, Cyrillic, …): see the measurements in bench/results/dedup.md."""
CJK_SHINGLE = 3
NUM_PERM = 128
SEED = 20250601
RENSA_ALGORITHM = 2
SCHEME = 1 if rensa.RMinHash.ALGORITHM_VERSION == RENSA_ALGORITHM else 0
"""0 marks signatures made by a rensa whose MinHash differs from the one measured here."""

_HEADER = struct.Struct("<cBHI")
_MAGIC = b"M"

U32Array = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """A compact sketch of a text's set of shingles.

    ``values`` are the MinHash minima (uint32); ``shingles`` is the size of the set, which
    turns a Jaccard estimate into a containment estimate (is the shorter text inside the
    longer one?).
    """

    values: U32Array
    shingles: int
    scheme: int = SCHEME

    @property
    def num_perm(self) -> int:
        return int(self.values.shape[0])

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(_MAGIC, self.scheme, self.num_perm, self.shingles)
        return header + self.values.astype("<u4", copy=False).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        scheme, _, size = read_header(data)
        values = np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype(np.uint32)
        return cls(values, size, scheme)

    def jaccard(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two shingle sets."""
        _check_comparable(self, other)
        return float(np.count_nonzero(self.values == other.values)) / self.num_perm

    def containment(self, other: Signature) -> float:
        """Estimated share of the smaller set found in the larger one."""
        return containment(self.jaccard(other), self.shingles, other.shingles)


def read_header(data: bytes) -> tuple[int, int, int]:
    """``(scheme, num_perm, shingles)`` of stored signature bytes, checking their length."""
    if len(data) < _HEADER.size:
        raise SignatureError(f"{len(data)} bytes is shorter than a signature header")
    magic, scheme, num_perm, size = _HEADER.unpack_from(data)
    if magic != _MAGIC or len(data) != _HEADER.size + 4 * num_perm:
        raise SignatureError(f"not a signature ({len(data)} bytes, magic {magic!r})")
    return int(scheme), int(num_perm), int(size)


def signature(text: str) -> Signature:
    """The MinHash signature of a text's character shingles (see :mod:`.text`)."""
    grams = shingles(normalise(text), SHINGLE, CJK_SHINGLE)
    sketch = rensa.RMinHash(NUM_PERM, SEED)
    if grams:
        sketch.update(list(grams))
    return Signature(np.asarray(sketch.digest(), dtype=np.uint32), len(grams))


def containment(jaccard: float, size_a: int, size_b: int) -> float:
    """|A ∩ B| / min(|A|, |B|), from J = |A ∩ B| / |A ∪ B| and the two sizes."""
    smaller = min(size_a, size_b)
    if smaller == 0:
        return 0.0
    shared = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, shared / smaller)


def _check_comparable(a: Signature, b: Signature) -> None:
    if a.scheme != b.scheme or a.num_perm != b.num_perm:
        raise SignatureError(
            f"signatures of scheme {a.scheme}/{a.num_perm} and {b.scheme}/{b.num_perm} "
            "cannot be compared"
        )
