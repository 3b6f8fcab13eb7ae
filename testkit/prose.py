"""Deterministic filler news prose for bulk tests.

Sentences are drawn from a few hundred ordinary words in varied patterns, so two
articles share common words but almost no five-word runs: near-duplicate
detection must not fold them together, and no seed topic should match them.
"""

from __future__ import annotations

import random

_ADJECTIVES = """
new local regional municipal annual quiet busy historic modern rural coastal northern
southern eastern western independent volunteer public private small large popular
delayed expanded renovated temporary permanent seasonal weekly digital experimental
cautious ambitious crowded remote flooded restored unexpected ordinary careful generous
modest bold wooden narrow steep sunny windy foggy frozen green famous young elderly
""".split()  # noqa: SIM905

_NOUNS = """
council library harbour bridge orchestra festival bakery railway museum garden school
hospital market stadium farmer fisherman teacher mayor engineer architect nurse cyclist
gallery theatre ferry tunnel reservoir vineyard orchard bookshop choir startup
laboratory observatory lighthouse marina playground airport bus tram canal cathedral
pharmacy brewery dairy sawmill quarry warehouse cinema zoo aquarium university committee
charity foundation cooperative newspaper factory workshop campsite village suburb island
valley river forest meadow glacier beach promenade square monument fountain
""".split()  # noqa: SIM905

_VERBS = """
opened approved rebuilt expanded postponed celebrated inspected renovated funded
announced completed welcomed reviewed praised criticised delayed relocated upgraded
hosted launched closed repaired restored measured surveyed painted planted harvested
exported reopened redesigned rejected endorsed
""".split()  # noqa: SIM905

_PLACES = """
Aldermoor Brightwater Castlereagh Dunmore Elmsworth Fairhaven Glenbrook Harrowgate
Ivybridge Junipermoor Kingsbarn Lindenfield Marlowe Northcliff Oakhurst Pinewood
Quayside Redmarsh Stonebridge Thornbury Upton Valebrook Westmere Yarrowdale
""".split()  # noqa: SIM905

_SOURCES = """
officials residents organisers critics engineers historians economists shopkeepers
volunteers planners inspectors spokespeople
""".split()  # noqa: SIM905

_OUTLETS = (
    "Valley Courier",
    "Harbour Gazette",
    "The Daily Lantern",
    "Meadow Times",
    "Coastline Herald",
    "Riverside Post",
    "Northcliff Observer",
    "Evening Ledger",
)

_PATTERNS = (
    "The {a} {n} in {p} {v} the {a2} {n2} on {day}.",
    "According to {s}, the {n} {v} its {a} {n2} after {num} months of debate.",
    "{S} said the {a} {n} had {v} the {n2} faster than expected.",
    "About {num} {s} gathered near the {n} when the {a} {n2} was {v}.",
    "In {p}, the {n} {v} a {a} plan for the {n2} and the {n3}.",
    "Local {s} {v} the decision, saying the {n} needed a {a} {n2}.",
    "The {n2} was first {v} in {year}, long before the {a} {n} existed.",
    "Nobody expected the {a} {n} to be {v} so soon, {s} admitted.",
    "A {a} {n} near the {n2} {v} {num} visitors during the {a2} weekend.",
    "Funding for the {n} came from the {a} {n2} and several {a2} donors.",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Prose:
    """A seeded source of titles and article bodies; same seed, same output."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._titles: set[str] = set()

    def outlet(self) -> str:
        return self._rng.choice(_OUTLETS)

    def unique_title(self) -> str:
        rng = self._rng
        while True:
            title = (
                f"{rng.choice(_ADJECTIVES).capitalize()} {rng.choice(_NOUNS)} "
                f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} in {rng.choice(_PLACES)}"
            )
            if title not in self._titles:
                self._titles.add(title)
                return title

    def sentence(self) -> str:
        rng = self._rng
        source = rng.choice(_SOURCES)
        return rng.choice(_PATTERNS).format(
            a=rng.choice(_ADJECTIVES),
            a2=rng.choice(_ADJECTIVES),
            n=rng.choice(_NOUNS),
            n2=rng.choice(_NOUNS),
            n3=rng.choice(_NOUNS),
            v=rng.choice(_VERBS),
            p=rng.choice(_PLACES),
            s=source,
            S=source.capitalize(),
            num=rng.randint(2, 900),
            year=rng.randint(1820, 2015),
            day=rng.choice(_DAYS),
        )

    def article_text(self, min_chars: int = 2000, max_chars: int = 5000) -> str:
        """Paragraphs of 3–6 sentences, separated by blank lines, within the bounds."""
        target = self._rng.randint(min_chars, max_chars)
        paragraphs: list[str] = []
        length = 0
        while length < target:
            sentences = [self.sentence() for _ in range(self._rng.randint(3, 6))]
            paragraph = " ".join(sentences)
            if length + len(paragraph) + 2 > max_chars and length >= min_chars:
                break
            paragraphs.append(paragraph)
            length += len(paragraph) + 2
        return "\n\n".join(paragraphs)
