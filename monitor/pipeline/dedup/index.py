"""A compact MinHash LSH index over numpy arrays.

Why not datasketch's ``MinHashLSH`` or rensa's ``RMinHashLSH``: both keep a hash table of
Python or Rust objects per band, measured at 10–13 GB (datasketch) and 4 GB (rensa) per
million signatures with 32 bands (bench/results/dedup.md) — over the 1 GB budget before the
sketches that verify candidates are even counted. Here each band is two sorted numpy arrays
(a 32-bit band key and a 32-bit slot number), and candidates are verified against the low
16 bits of each MinHash value (b-bit MinHash: two different minima agree on 16 bits with
probability 2⁻¹⁶, a negligible bias). Per article: 8 bytes × bands + 2 bytes × num_perm +
12 bytes, or 604 bytes with 42 bands of 3 rows over 128 permutations (about 0.8 GB of
resident memory per million, with the id set and the allocator's slack).

The band tables (:mod:`.bands`) take an insert in O(1) and a lookup in O(log n) per band —
no pairwise scan of the history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.errors import SignatureError
from monitor.pipeline.dedup.bands import BandTables
from monitor.pipeline.dedup.minhash import SCHEME, Signature, containment, read_header

PREFILTER = 32


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored article whose text is estimated to overlap the queried one."""

    article_id: int
    similarity: float  # estimated Jaccard similarity of the shingle sets
    containment: float  # estimated share of the smaller text found in the larger


class NearDuplicateIndex:
    """Banded LSH over MinHash signatures: ``add``, ``query``, ``remove``.

    ``bands × rows`` values of each signature form the band keys; two texts of Jaccard
    similarity *s* share at least one band with probability 1 − (1 − sʳ)ᵇ (0.98 at 0.45 and
    0.68 at 0.30 for 42 × 3), and every candidate is then verified on all ``num_perm`` values.
    """

    def __init__(self, *, bands: int = 42, rows: int = 3, num_perm: int = 128) -> None:
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"{bands} bands × {rows} rows do not fit {num_perm} permutations")
        self.bands, self.rows, self.num_perm = bands, rows, num_perm
        self.skipped: tuple[int, ...] = ()  # ids given to from_rows with unusable signatures
        self._ids = np.empty(0, dtype=np.int64)  # -1 marks a removed slot
        self._low = np.empty((0, num_perm), dtype=np.uint16)
        self._sizes = np.empty(0, dtype=np.uint32)
        self._count = 0  # used slots
        self._dead = 0  # used slots of removed articles
        self._present: set[int] = set()
        self._bands = BandTables(bands, rows)

    def __len__(self) -> int:
        return len(self._present)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._present

    def add(self, article_id: int, sig: Signature) -> None:
        """Index one article's signature; adding an id already present replaces it."""
        self._check(sig)
        if article_id in self._present:
            self.remove(article_id)
        slot = self._append(np.array([article_id]), sig.values[None, :], [sig.shingles])
        self._bands.add(slot, self._bands.keys_of(sig.values[None, :])[0])

    def query(
        self, sig: Signature, *, min_similarity: float = 0.0, limit: int = 10
    ) -> list[Candidate]:
        """Stored articles sharing a band with ``sig``, most similar first (then oldest id)."""
        self._check(sig)
        if sig.shingles == 0 or not self._present:
            return []
        slots = self._bands.lookup(self._bands.keys_of(sig.values[None, :])[0])
        slots = slots[self._ids[slots] >= 0]
        if slots.size == 0:
            return []
        low = (sig.values & 0xFFFF).astype(np.uint16)
        slots = self._prefilter(slots, low, min_similarity)
        similarity = np.count_nonzero(self._low[slots] == low, axis=1) / self.num_perm
        keep = similarity >= min_similarity
        slots, similarity = slots[keep], similarity[keep]
        order = np.lexsort((self._ids[slots], -similarity))[:limit]
        return [
            Candidate(
                int(self._ids[slots[i]]),
                float(similarity[i]),
                containment(float(similarity[i]), sig.shingles, int(self._sizes[slots[i]])),
            )
            for i in order
        ]

    def remove(self, article_id: int) -> bool:
        """Forget an article. An O(n) scan: for many at once use :meth:`remove_many`."""
        return self.remove_many([article_id]) == 1

    def remove_many(self, article_ids: Iterable[int]) -> int:
        """Forget articles (e.g. past retention); returns how many were indexed.

        Their slots are marked dead and reclaimed once they are a quarter of the index.
        """
        gone = [i for i in set(article_ids) if i in self._present]
        if not gone:
            return 0
        self._present.difference_update(gone)
        used = self._ids[: self._count]
        used[np.isin(used, np.array(gone, dtype=np.int64))] = -1
        self._dead += len(gone)
        if self._dead * 4 > self._count:
            self._compact()
        return len(gone)

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[int, bytes]], *, bands: int = 42, rows_per_band: int = 3
    ) -> NearDuplicateIndex:
        """Rebuild from stored ``(article_id, signature bytes)`` rows in one vectorised pass.

        Rows whose bytes are unreadable or of another scheme are left out and their ids
        listed in ``skipped``, so the caller can re-sign those articles from their text.
        """
        ids: list[int] = []
        sizes: list[int] = []
        blobs: list[bytes] = []
        skipped: list[int] = []
        num_perm: int | None = None
        for article_id, data in rows:
            try:
                scheme, perms, shingles = read_header(data)
            except SignatureError:
                skipped.append(article_id)
                continue
            num_perm = num_perm or perms
            if scheme != SCHEME or perms != num_perm:
                skipped.append(article_id)
                continue
            ids.append(article_id)
            sizes.append(shingles)
            blobs.append(data[-4 * num_perm :])
        index = cls(bands=bands, rows=rows_per_band, num_perm=num_perm or 128)
        if blobs:
            flat = np.frombuffer(b"".join(blobs), dtype="<u4")
            del blobs  # the joined copy is all that is needed now
            values = flat.reshape(len(ids), -1).astype(np.uint32, copy=False)
            index.bulk_add(np.array(ids, dtype=np.int64), values, sizes)
        index.skipped = tuple(skipped)
        return index

    def bulk_add(
        self,
        ids: npt.NDArray[np.int64],
        values: npt.NDArray[np.uint32],
        sizes: Iterable[int],
    ) -> None:
        """Add many signatures at once (ids must be new and distinct), then merge."""
        fresh = [i for i in ids.tolist() if i not in self._present]
        if len(fresh) != len(ids) or len(set(fresh)) != len(fresh):
            raise ValueError("bulk_add needs ids that are distinct and not yet indexed")
        first = self._append(ids, values, list(sizes))
        slots = np.arange(first, first + len(ids), dtype=np.uint32)
        self._bands.add_many(slots, self._bands.keys_of(values))

    def nbytes(self) -> int:
        """Bytes held in numpy arrays (excludes the id set and pending dicts)."""
        arrays: list[npt.NDArray[Any]] = [self._ids, self._low, self._sizes]
        arrays += self._bands.arrays()
        return sum(a.nbytes for a in arrays)

    # --- internals --------------------------------------------------------

    def _check(self, sig: Signature) -> None:
        if sig.scheme != SCHEME or sig.num_perm != self.num_perm:
            raise SignatureError(
                f"index holds scheme {SCHEME} with {self.num_perm} permutations, "
                f"got scheme {sig.scheme} with {sig.num_perm}"
            )

    def _append(
        self, ids: npt.NDArray[np.int64], values: npt.NDArray[np.uint32], sizes: list[int]
    ) -> int:
        first, needed = self._count, self._count + len(ids)
        if needed > len(self._ids):
            self._grow(max(needed, len(self._ids) * 5 // 4, 1024))  # ×1.25: the sketches are large
        self._ids[first:needed] = ids
        self._low[first:needed] = (values & 0xFFFF).astype(np.uint16)
        self._sizes[first:needed] = sizes
        self._count = needed
        self._present.update(int(i) for i in ids.tolist())
        return first

    def _grow(self, capacity: int) -> None:
        extra = capacity - len(self._ids)
        self._ids = np.concatenate([self._ids, np.full(extra, -1, dtype=np.int64)])
        self._low = np.concatenate([self._low, np.zeros((extra, self.num_perm), np.uint16)])
        self._sizes = np.concatenate([self._sizes, np.zeros(extra, dtype=np.uint32)])

    def _prefilter(
        self, slots: npt.NDArray[np.int64], low: npt.NDArray[np.uint16], min_similarity: float
    ) -> npt.NDArray[np.int64]:
        """Drop candidates that agree on too few of the first PREFILTER values to reach
        ``min_similarity`` (losing at most 1 % of those that do): most candidates of a large
        index are unrelated articles that share one band by chance, and reading 64 bytes of
        each instead of 256 makes their verification four times cheaper."""
        need = _agreement_needed(min_similarity)
        if need == 0 or slots.size < 64:
            return slots
        head = np.count_nonzero(self._low[slots, :PREFILTER] == low[:PREFILTER], axis=1)
        kept: npt.NDArray[np.int64] = slots[head >= need]
        return kept

    def _compact(self) -> None:
        """Drop dead slots from every array."""
        alive = self._ids[: self._count] >= 0
        self._bands.compact(alive)
        self._ids = self._ids[: self._count][alive].copy()
        self._low = self._low[: self._count][alive].copy()
        self._sizes = self._sizes[: self._count][alive].copy()
        self._count, self._dead = len(self._ids), 0


@lru_cache(maxsize=64)
def _agreement_needed(similarity: float) -> int:
    """Largest k with P(Binomial(PREFILTER, similarity) < k) ≤ 1 %."""
    total, k = 0.0, 0
    while True:
        total += math.comb(PREFILTER, k) * similarity**k * (1 - similarity) ** (PREFILTER - k)
        if total > 0.01:
            return k
        k += 1
