"""The LSH band tables: which stored slots share a band key with a new signature.

Each band is two sorted numpy arrays, a 32-bit band key and a 32-bit slot number (8 bytes
per article per band). New entries wait in a per-band dict and are merged into the sorted
arrays in batches of ``MERGE_EVERY``: an insert is O(1), a merge O(n) per band, a lookup
O(log n) per band. 32-bit keys collide by chance with probability n / 2³² per band, which
only adds a candidate that verification then drops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

MERGE_EVERY = 8192
MAX_BUCKET = 1000
"""Buckets holding more articles than this are skipped at lookup. They form when the three
minima of a band come from shingles nearly every article has ("s said t"), so they collect
unrelated articles by the thousand; a real copy shares about four bands at similarity 0.45
and is found through the others."""
CHUNK = 65536  # rows per vectorised key computation: bounded temporaries
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)

U32 = npt.NDArray[np.uint32]


class BandTables:
    """``bands`` tables keyed by ``rows`` MinHash values each; slots are the index's rows."""

    def __init__(self, bands: int, rows: int) -> None:
        self.bands, self.rows = bands, rows
        self._keys: list[U32] = [np.empty(0, dtype=np.uint32) for _ in range(bands)]
        self._slots: list[U32] = [np.empty(0, dtype=np.uint32) for _ in range(bands)]
        self._pending: list[dict[int, int | tuple[int, ...]]] = [{} for _ in range(bands)]
        self._pending_slots: list[int] = []
        self._pending_keys: list[U32] = []

    def keys_of(self, values: U32) -> U32:
        """One 32-bit key per band and row of ``values``: a multiply-xor mix of its values."""
        out = np.empty((len(values), self.bands), dtype=np.uint32)
        for start in range(0, len(values), CHUNK):
            out[start : start + CHUNK] = self._mix(values[start : start + CHUNK])
        return out

    def add(self, slot: int, keys: U32) -> None:
        """Queue one slot under its band keys (one row of :meth:`keys_of`)."""
        for table, key in zip(self._pending, keys.tolist(), strict=True):
            # ints and tuples of ints, not lists: the garbage collector skips them
            held = table.get(key)
            table[key] = slot if held is None else (*_as_tuple(held), slot)
        self._pending_slots.append(slot)
        self._pending_keys.append(keys)
        if len(self._pending_slots) >= MERGE_EVERY:
            self.merge()

    def add_many(self, slots: U32, keys: U32) -> None:
        """Insert many slots straight into the sorted tables."""
        self.merge()
        for band in range(self.bands):
            self._insert_sorted(band, keys[:, band], slots)

    def lookup(self, keys: U32) -> npt.NDArray[np.int64]:
        """Distinct slots sharing at least one band key with ``keys`` (one row)."""
        found: list[U32] = []
        for band in range(self.bands):
            key = keys[band]  # a numpy uint32: a Python int would make searchsorted cast the table
            table = self._keys[band]
            lo = table.searchsorted(key, "left")
            hi = table.searchsorted(key, "right")
            if 0 < hi - lo <= MAX_BUCKET:
                found.append(self._slots[band][lo:hi])
            pending = self._pending[band].get(int(key))
            if pending is not None and len(held := _as_tuple(pending)) <= MAX_BUCKET:
                found.append(np.array(held, dtype=np.uint32))
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found)).astype(np.int64)

    def merge(self) -> None:
        if not self._pending_slots:
            return
        slots = np.array(self._pending_slots, dtype=np.uint32)
        keys = np.stack(self._pending_keys)
        for band in range(self.bands):
            self._insert_sorted(band, keys[:, band], slots)
        self._pending = [{} for _ in range(self.bands)]
        self._pending_slots = []
        self._pending_keys = []

    def compact(self, alive: npt.NDArray[np.bool_]) -> None:
        """Drop slots that are not ``alive`` and renumber the rest; order is kept."""
        self.merge()
        renumber = (np.cumsum(alive) - 1).astype(np.uint32)
        for band in range(self.bands):
            keep = alive[self._slots[band]]
            self._keys[band] = self._keys[band][keep]
            self._slots[band] = renumber[self._slots[band][keep]]

    def arrays(self) -> list[npt.NDArray[Any]]:
        return [*self._keys, *self._slots]

    def _mix(self, values: U32) -> U32:
        rows = values[:, : self.bands * self.rows].astype(np.uint64)
        rows = rows.reshape(len(values), self.bands, self.rows)
        mixed = np.zeros((len(values), self.bands), dtype=np.uint64)
        for r in range(self.rows):
            mixed ^= (rows[:, :, r] + np.uint64(r + 1)) * _MIX[r % len(_MIX)]
        folded: U32 = ((mixed >> np.uint64(32)) ^ mixed).astype(np.uint32)
        return folded

    def _insert_sorted(self, band: int, keys: U32, slots: U32) -> None:
        order = np.argsort(keys, kind="stable")
        keys, slots = keys[order], slots[order]
        at = np.searchsorted(self._keys[band], keys)
        self._keys[band] = np.insert(self._keys[band], at, keys)
        self._slots[band] = np.insert(self._slots[band], at, slots)


def _as_tuple(held: int | tuple[int, ...]) -> tuple[int, ...]:
    return held if isinstance(held, tuple) else (held,)
