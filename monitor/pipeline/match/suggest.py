"""A first draft of a topic from a seed story, for a person to edit.

Pure heuristics, no model: runs of capitalised words (people, places,
organisations), acronyms, numbers with the word they count, word pairs and
triples that recur, the term lists already defined that match the story, and the
countries it names. Each country becomes a ``@country:XX`` list, which CLDR turns
into its name in some 170 languages, and the defined lists are multilingual
already, so a draft starts with far more languages than its seed is written in.
The draft is YAML in the shape of the topic file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from monitor.models import Document, TopicDefinition
from monitor.pipeline.match.cldr import as_term, country_names_in
from monitor.pipeline.match.compile import compile_topic
from monitor.pipeline.match.matcher import Matcher
from monitor.pipeline.match.tokens import tokenize

MAX_ITEMS = 12
MAX_COUNTRIES = 4
_CAPITAL = "A-ZÀ-ÞА-ЯЁІЇЄҐ"
_NAME = re.compile(
    rf"\b[{_CAPITAL}][\w-]*(?:[ \t]+(?:(?:of|de|du|del|la|von|der)[ \t]+)?[{_CAPITAL}][\w-]*)*"
)
_ACRONYM = re.compile(r"\b[A-ZА-Я]{2,6}\b")
_NUMBER = re.compile(r"\b\d[\d,.\s]*\d?\b(?:\s+(?:to|and|-|–)\s+\d[\d,.]*)?\s+([^\W\d]{3,})")
_SENTENCE_END = ".!?:\n"
_CALENDAR = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
}  # fmt: skip
_ORGANISATION = {
    "agency", "army", "bank", "council", "committee", "command", "court", "forces",
    "ministry", "nations", "office", "organisation", "organization", "parliament",
    "party", "service", "union", "assembly", "duma", "nato",
}  # fmt: skip
_PLACE_WORDS = {"north", "south", "east", "west", "new", "saint", "san", "upper", "lower"}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What a seed story suggests: candidate terms, grouped, and lists that already fit."""

    topic_id: str
    people: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    known_lists: dict[str, list[str]] = field(default_factory=dict)  # list -> terms found
    countries: dict[str, str] = field(default_factory=dict)  # CLDR code -> name as found

    def country_lists(self) -> dict[str, list[str]]:
        """One term list per country named, drawn from CLDR."""
        return {f"country_{code.lower()}": [f"@country:{code}"] for code in self.countries}

    def to_yaml(self, seed_path: str) -> str:
        """The draft as a topic file, with comments saying what to check."""
        lists = self.country_lists() | {
            name: terms
            for name, terms in (
                ("people", self.people),
                ("places", self.places),
                ("organisations", self.organisations),
                ("phrases", self.phrases),
            )
            if terms
        }
        topic = {
            "id": self.topic_id,
            "name": self.topic_id.replace("-", " ").capitalize(),
            "description": "TODO: what an article must be about to belong here.",
            "query": self.query(),
            "min_score": 2.5,
            "seeds": [seed_path],
        }
        body = yaml.safe_dump(
            {"term_lists": lists, "topics": [topic]}, allow_unicode=True, sort_keys=False, width=90
        )
        header = [
            f"# Draft topic suggested from {seed_path}: edit before use.",
            "# Add each term's translations and inflected stems (word*) to the lists.",
        ]
        if self.known_lists:
            found = ", ".join(f"@{name} ({len(terms)})" for name, terms in self.known_lists.items())
            header.append(f"# Term lists already defined that match the story: {found}")
        if self.countries:
            named = ", ".join(f"{name} (@country:{code})" for code, name in self.countries.items())
            header.append(
                f"# Countries named: {named}; each expands to its CLDR name in ~170 languages."
            )
        if self.numbers:
            header.append("# Numbers in the story: " + "; ".join(self.numbers))
        return "\n".join(header) + "\n" + body

    def query(self) -> str:
        """A starting query: the lists that match the story most, tied by proximity."""
        names = list(self.known_lists)[:3]
        names += list(self.country_lists())
        names += [n for n in ("people", "places", "organisations", "phrases") if getattr(self, n)]
        names = names[:3]
        if len(names) >= 3:
            return f"(@{names[0]} NEAR/15 @{names[1]}) AND @{names[2]}"
        if len(names) == 2:
            return f"@{names[0]} NEAR/15 @{names[1]}"
        return f"@{names[0]}" if names else "TODO"


def suggest_topic(
    text: str, term_lists: Mapping[str, Sequence[str]], topic_id: str = "new-topic"
) -> Suggestion:
    """Propose term lists and a query for the story in ``text``."""
    names = _capitalised(text)
    people, places, organisations = _classify(names)
    return Suggestion(
        topic_id=topic_id,
        people=people,
        places=places,
        organisations=organisations,
        numbers=_numbers(text),
        phrases=_phrases(text, names),
        known_lists=_known_lists(text, term_lists),
        countries=_countries(text),
    )


def _countries(text: str) -> dict[str, str]:
    """The countries the story names, most named first, by their CLDR code."""
    names = country_names_in("en")
    topics = [
        compile_topic(TopicDefinition(code, "@name", min_score=0), {"name": [as_term(name)]})
        for code, name in names.items()
    ]
    results = Matcher(topics).match(Document("", text), explain=True)
    found = [(len(r.hits), r.topic_id, r.hits[0].term) for r in results if r.hits]
    found.sort(key=lambda item: -item[0])
    return {code: names[code] for _, code, _ in found[:MAX_COUNTRIES]}


def _capitalised(text: str) -> Counter[str]:
    """Capitalised runs, counted.

    A run that opens a sentence may owe its first capital to that alone: it is kept
    whole when its first word is never written in lower case, else without that word.
    A single word kept only if it also stands inside a sentence.
    """
    lower = {word for word in re.findall(r"\w+", text) if word.islower()}
    counts: Counter[str] = Counter()
    inside: set[str] = set()
    for match in _NAME.finditer(text):
        name = match.group().strip(" -")
        if len(name) < 3 or name.lower() in _CALENDAR:
            continue
        before = text[: match.start()].rstrip()
        words = name.split()
        if before and before[-1] not in _SENTENCE_END:
            inside.add(name)
        elif len(words) > 1:
            if words[0].lower() in lower or words[0].lower() in _CALENDAR:
                name = " ".join(words[1:])
            inside.add(name)
        counts[name] += 1
    for acronym in _ACRONYM.findall(text):
        counts[acronym] += 1
        inside.add(acronym)
    return Counter({name: n for name, n in counts.items() if name in inside})


def _classify(names: Counter[str]) -> tuple[list[str], list[str], list[str]]:
    people: list[str] = []
    places: list[str] = []
    organisations: list[str] = []
    for name, count in names.most_common():
        words = name.split()
        lowered = {w.lower() for w in words}
        if lowered & _ORGANISATION or _ACRONYM.fullmatch(name):
            organisations.append(name)
        elif len(words) == 1 or words[0].lower() in _PLACE_WORDS:
            if count >= 2 or len(words) > 1:
                places.append(name)
        else:
            people.append(name)
    return people[:MAX_ITEMS], places[:MAX_ITEMS], organisations[:MAX_ITEMS]


def _numbers(text: str) -> list[str]:
    found = [" ".join(m.group().split()) for m in _NUMBER.finditer(text)]
    return list(dict.fromkeys(found))[:MAX_ITEMS]


def _phrases(text: str, names: Counter[str]) -> list[str]:
    """Word pairs and triples that recur, with no short word at either end."""
    tokens = tokenize(text).tokens
    named = {t for name in names for t in tokenize(name).tokens}
    counts: Counter[str] = Counter()
    for size in (2, 3):
        for start in range(len(tokens) - size + 1):
            gram = tokens[start : start + size]
            ends = (gram[0], gram[-1])
            if any(len(end) < 4 or end.isdigit() for end in ends) or set(gram) <= named:
                continue
            counts[" ".join(gram)] += 1
    return [gram for gram, n in counts.most_common(MAX_ITEMS) if n >= 2]


def _known_lists(text: str, term_lists: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The defined term lists that match the story, most matched first, with their terms."""
    topics = [
        compile_topic(TopicDefinition(name, f"@{name}", min_score=0), term_lists)
        for name in term_lists
    ]
    results = Matcher(topics).match(Document("", text), explain=True)
    found = {
        result.topic_id: list(dict.fromkeys(hit.term for hit in result.hits))
        for result in results
        if result.hits
    }
    counts = {r.topic_id: len(r.hits) for r in results}
    return dict(sorted(found.items(), key=lambda item: -counts[item[0]]))
