"""Generate the deduplication and story-grouping evaluation sets.

Run from the repository root (the output is committed; rerunning gives the same bytes)::

    .venv/bin/python tests/data/make_dedup_pairs.py

Inputs: the 120 labelled articles of ``shared/data/topic-devset.jsonl`` (8 languages) and the
hand-written second reports of ``tests/data/dedup-reports.jsonl`` (the same event told in other
words, and other events on the same topic a day or two apart).

``dedup-pairs.jsonl`` — one pair per line, ``label`` "duplicate" or "distinct":

* duplicates: one devset article republished with the edits syndication makes — a new
  headline, a changed or removed dateline, a byline, inserted "Related:" lines, outlet
  boilerplate, the last paragraph trimmed, one paragraph reworded — alone and combined.
  Some copies keep only the top half of the story, as outlets that run the first
  paragraphs of a wire report do. A reworded paragraph replaces about 40 % of its words
  and swaps its clauses; for shingle overlap a synonym and a random same-language word cost
  the same, so this is no easier than a translated-and-back paragraph.
* distinct (near misses): second reports of the same event by another outlet, the next
  day's report on a continuing story that reuses the first one's background paragraphs,
  two articles sharing one outlet's page boilerplate, and same-topic articles in the same
  language.

``dedup-story-pairs.jsonl`` — pairs of different articles published at most three days
apart, ``label`` "same" (the same event, from the event table below) or "different".
Pairs whose relation is debatable (a reaction to an event, a follow-up the next day) are
left out rather than guessed.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEVSET = HERE.parents[2] / "shared" / "data" / "topic-devset.jsonl"  # shared/ beside the repo

Article = dict[str, Any]

# Events that several devset articles report (every other article is its own event).
EVENTS = {
    "treaty-signing": ["dev-114", "dev-005"],
    "duma-ratifies": ["dev-070", "dev-086"],
    "us-8000-kursk": ["dev-019"],
    "nk-fm-lavrov": ["dev-061"],
    "hwasong-19": ["dev-046"],
    "first-clash": ["dev-078", "dev-089"],
    "treaty-in-force": ["dev-002", "dev-080"],
    "captured-two": ["dev-026"],
    "killed-300": ["dev-030", "dev-077"],
    "nk-confirms": ["dev-082", "dev-097", "dev-006"],
    "sappers": ["dev-054", "dev-102"],
    "special-forces": ["dev-104", "dev-064"],
    "nis-3000": ["dev-010"],
    "impeachment": ["dev-041"],
    "nk-china-trade": ["dev-032", "dev-100"],
    "treaty-federation-council": ["dev-035"],
    "putin-signs-law": ["dev-117"],
    "zelensky-back-in-kursk": ["dev-098", "dev-029"],
}
# Reactions and follow-ups: neither clearly the same event nor clearly another one.
DEBATABLE = {
    "treaty-signing": {"dev-068", "dev-014", "dev-088", "dev-116"},
    "captured-two": {"dev-012", "dev-120"},
    "nk-confirms": {"dev-051", "dev-107"},
    "special-forces": {"nis-3000"},
}

BYLINES = {
    "en": ["By Hyung-jin Kim and Kim Tong-hyung, Associated Press", "By Staff Reporter"],
    "de": ["Von unserem Korrespondenten in Seoul", "Von dpa-Redakteur Martin Weber"],
    "fr": ["Par notre correspondant à Séoul", "Par la rédaction avec AFP"],
    "es": ["Por la redacción", "Por Carlos Ruiz, corresponsal en Seúl"],
    "ru": ["Автор: Иван Петров", "Текст: Мария Соколова"],
    "uk": ["Автор: Олена Коваль", "Текст: Андрій Мельник"],
    "ko": ["김민수 기자", "박지영 기자 = 연합뉴스"],
    "ja": ["（共同）", "【ソウル共同】"],
}
FOOTERS = {
    "en": "Reporting by Josh Smith; Editing by Ed Davies.",
    "de": "(dpa/AFP) Mitarbeit: Anna Keller.",
    "fr": "Avec AFP et Reuters.",
    "es": "Con información de EFE y Reuters.",
    "ru": "По материалам ТАСС и РИА Новости.",
    "uk": "За матеріалами Укрінформу.",
    "ko": "저작권자 © 무단전재 및 재배포 금지",
    "ja": "（共同通信）",
}
RELATED = {
    "en": "Related:",
    "de": "Lesen Sie auch:",
    "fr": "À lire aussi :",
    "es": "Lea también:",
    "ru": "Читайте также:",
    "uk": "Читайте також:",
    "ko": "관련기사:",
    "ja": "関連記事：",
}
BOILERPLATE = {
    "en": (
        "Skip to content. World | Politics | Business | Opinion | Sign in. "
        "Advertisement. Share this article on Facebook, X and WhatsApp.",
        "Sign up for our morning briefing and get the day's top stories in your inbox. "
        "We use cookies to improve your experience; by continuing you agree to our cookie "
        "policy. © 2025 {outlet}. All rights reserved. Reproduction without permission is "
        "prohibited. Contact the newsroom. Terms of use. Privacy policy.",
    ),
    "de": (
        "Zum Inhalt springen. Politik | Wirtschaft | Sport | Meinung | Anmelden. Anzeige.",
        "Abonnieren Sie unseren Newsletter und erhalten Sie die wichtigsten Nachrichten "
        "täglich. Diese Website verwendet Cookies. © 2025 {outlet}. Alle Rechte vorbehalten. "
        "Impressum. Datenschutz. Nutzungsbedingungen.",
    ),
    "fr": (
        "Aller au contenu. International | Politique | Économie | Se connecter. Publicité.",
        "Inscrivez-vous à notre lettre d'information pour recevoir l'essentiel de "
        "l'actualité. Ce site utilise des cookies. © 2025 {outlet}. Tous droits réservés. "
        "Mentions légales. Politique de confidentialité.",
    ),
    "es": (
        "Ir al contenido. Internacional | Política | Economía | Iniciar sesión. Publicidad.",
        "Suscríbase a nuestro boletín y reciba las noticias más importantes del día. Este "
        "sitio utiliza cookies. © 2025 {outlet}. Todos los derechos reservados. Aviso legal.",
    ),
    "ru": (
        "Перейти к содержанию. Политика | Экономика | Общество | Войти. Реклама.",
        "Подпишитесь на нашу рассылку, чтобы получать главные новости дня. Сайт использует "
        "файлы cookie. © 2025 {outlet}. Все права защищены. Перепечатка запрещена.",
    ),
    "uk": (
        "Перейти до змісту. Політика | Економіка | Війна | Увійти. Реклама.",
        "Підпишіться на нашу розсилку, щоб отримувати головні новини дня. Сайт "
        "використовує файли cookie. © 2025 {outlet}. Усі права захищені.",
    ),
    "ko": (
        "본문 바로가기. 정치 | 경제 | 사회 | 국제 | 로그인. 광고.",
        "뉴스레터를 구독하고 매일 아침 주요 뉴스를 받아보세요. 이 사이트는 쿠키를 사용합니다. "
        "© 2025 {outlet}. 무단전재 및 재배포 금지. 개인정보처리방침.",
    ),
    "ja": (
        "本文へ移動。政治｜経済｜国際｜社会｜ログイン。広告。",
        "ニュースレターに登録すると毎朝主要ニュースが届きます。当サイトはクッキーを使用します。"
        "© 2025 {outlet}。無断転載を禁じます。利用規約。プライバシーポリシー。",
    ),
}
DATELINE = re.compile(r"^(?:【[^】]{1,12}】|[A-ZÀ-ÞА-ЯІЇЄҐ][^\n—–]{0,48}?\s[—–-]\s)")


def load() -> tuple[list[Article], list[Article]]:
    devset = [json.loads(line) for line in DEVSET.read_text(encoding="utf-8").splitlines()]
    reports_path = HERE / "dedup-reports.jsonl"
    reports = [json.loads(line) for line in reports_path.read_text(encoding="utf-8").splitlines()]
    return devset, reports


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def join(paras: list[str]) -> str:
    return "\n\n".join(paras)


def change_dateline(rng: random.Random, art: Article) -> str:
    text = art["text"]
    match = DATELINE.match(text)
    body = text[match.end() :] if match else text
    city = match.group(0).split(",")[0].split(" ")[0].strip("【】—– ") if match else ""
    options = ["", f"{city} (AP) — ", f"{city}, (Reuters) - "] if city else ["", "(AFP) — "]
    if art["language"] == "ja":
        options = ["", "【ソウル共同】", "【東京】"]
    return rng.choice(options) + body


def add_byline(rng: random.Random, art: Article, text: str) -> str:
    lang = art["language"]
    if rng.random() < 0.5:
        return f"{rng.choice(BYLINES[lang])}\n\n{text}"
    return f"{text}\n\n{FOOTERS[lang]}"


def add_related(rng: random.Random, text: str, lang: str, titles: list[str]) -> str:
    paras = paragraphs(text)
    for _ in range(rng.choice([1, 2])):
        at = rng.randrange(1, len(paras)) if len(paras) > 1 else 1
        paras.insert(at, f"{RELATED[lang]} {rng.choice(titles)}")
    return join(paras)


def add_boilerplate(text: str, art: Article) -> str:
    head, foot = BOILERPLATE[art["language"]]
    return f"{head}\n\n{text}\n\n{foot.format(outlet=art['outlet'])}"


def trim_last(text: str) -> str:
    paras = paragraphs(text)
    return join(paras[:-1]) if len(paras) >= 3 else text


def trim_half(text: str) -> str:
    """Keep the top half, as an outlet that runs only the first paragraphs of a wire story."""
    paras = paragraphs(text)
    return join(paras[: max(2, (len(paras) + 1) // 2)])


def reword_words(rng: random.Random, para: str, pool: list[str], lang: str) -> str:
    """Reword one paragraph: ~40 % of its words replaced, clauses swapped."""
    if lang == "ja":
        chunks = [para[i : i + 3] for i in range(0, len(para), 3)]
        out = [rng.choice(pool) if rng.random() < 0.4 else c for c in chunks]
        return "".join(out)
    words = para.split()
    out = [rng.choice(pool) if rng.random() < 0.4 else w for w in words]
    text = " ".join(out)
    parts = text.split(", ", 1)
    return f"{parts[1]}, {parts[0]}" if len(parts) == 2 else text


def reword(rng: random.Random, text: str, lang: str, pool: list[str]) -> str:
    paras = paragraphs(text)
    candidates = [i for i, p in enumerate(paras) if len(p) > 120] or [0]
    at = rng.choice(candidates[1:] or candidates)
    paras[at] = reword_words(rng, paras[at], pool, lang)
    return join(paras)


def new_headline(rng: random.Random, art: Article) -> str:
    first = re.split(r"(?<=[.!?。])\s*", DATELINE.sub("", art["text"]), maxsplit=1)[0]
    words = first.split()
    if art["language"] == "ja":
        return first[:30]
    return " ".join(words[: rng.randint(8, 12)]).rstrip(",.;:")


EDITS = [
    "headline",
    "whitespace-case",
    "dateline",
    "byline",
    "related",
    "boilerplate",
    "trim",
    "reword",
    "dateline+byline+related",
    "dateline+byline+trim",
    "byline+related+reword",
    "dateline+byline+related+trim",
    "headline+dateline+byline+trim+reword",
]

HALF_EDITS = ["trimhalf", "dateline+byline+trimhalf", "headline+dateline+related+trimhalf"]


def apply(rng: random.Random, art: Article, edit: str, ctx: dict[str, Any]) -> Article:
    lang = art["language"]
    text, title = art["text"], art["title"]
    for step in edit.split("+"):
        if step == "headline":
            title = new_headline(rng, art)
        elif step == "whitespace-case":
            text = re.sub(r" ", "  ", text.upper() if lang != "ja" else text).replace("\n\n", "\n")
        elif step == "dateline":
            text = change_dateline(rng, {**art, "text": text})
        elif step == "byline":
            text = add_byline(rng, art, text)
        elif step == "related":
            text = add_related(rng, text, lang, ctx["titles"][lang])
        elif step == "boilerplate":
            text = add_boilerplate(text, {**art, "outlet": ctx["outlet"]})
        elif step == "trim":
            text = trim_last(text)
        elif step == "trimhalf":
            text = trim_half(text)
        elif step == "reword":
            text = reword(rng, text, lang, ctx["pools"][lang])
    if "headline" not in edit:
        title = title if rng.random() < 0.3 else new_headline(rng, art)
    return {"title": title, "text": text, "outlet": ctx["outlet"], "language": lang}


def side(art: Article) -> Article:
    keys = ("id", "language", "outlet", "published", "title", "text")
    return {k: art[k] for k in keys if k in art}


def word_pools(devset: list[Article]) -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {}
    for art in devset:
        if art["language"] == "ja":
            text = art["text"].replace("\n", "")
            pools.setdefault("ja", []).extend(text[i : i + 3] for i in range(0, len(text), 3))
        else:
            pools.setdefault(art["language"], []).extend(art["text"].split())
    return {k: sorted(set(v)) for k, v in pools.items()}


OUTLETS = ["Korea Herald Wire", "Kyiv Independent Desk", "Daily Courier", "Morning Record"]


def duplicate_pairs(rng: random.Random, devset: list[Article]) -> list[dict[str, Any]]:
    titles: dict[str, list[str]] = {}
    for art in devset:
        titles.setdefault(art["language"], []).append(art["title"])
    ctx: dict[str, Any] = {"titles": titles, "pools": word_pools(devset)}
    pairs = []
    heavy = set(rng.sample(range(len(devset)), 60))
    half = set(rng.sample(range(len(devset)), 24))
    for n, art in enumerate(devset):
        edits = [EDITS[n % len(EDITS)]]
        edits += [rng.choice(EDITS[-4:])] if n in heavy else []
        edits += [rng.choice(HALF_EDITS)] if n in half else []
        for edit in edits:
            ctx["outlet"] = rng.choice(OUTLETS)
            copy = apply(rng, art, edit, ctx)
            pairs.append(pair("duplicate", edit, art, {**copy, "published": art["published"]}))
    return pairs


def pair(label: str, kind: str, a: Article, b: Article) -> dict[str, Any]:
    return {"label": label, "kind": kind, "a": side(a), "b": side(b)}


def topics(art: Article) -> set[str]:
    return {t for t, flag in (("troops", art.get("troops")), ("pact", art.get("pact"))) if flag}


def continuing_pairs(rng: random.Random, devset: list[Article]) -> list[dict[str, Any]]:
    """Next-day report: a new lead from another same-topic article plus A's background."""
    pairs = []
    for art in devset:
        others = [
            o
            for o in devset
            if o is not art and o["language"] == art["language"] and topics(o) & topics(art)
        ]
        paras = paragraphs(art["text"])
        if not others or len(paras) < 3:
            continue
        other = rng.choice(others)
        shared = 2 if rng.random() < 0.4 else 1
        text = join(paragraphs(other["text"])[:2] + paras[-shared:])
        b = {**other, "text": text, "outlet": art["outlet"], "published": next_day(art)}
        pairs.append(pair("distinct", f"continuing-{shared}", art, b))
    return pairs


def template_pairs(rng: random.Random, devset: list[Article]) -> list[dict[str, Any]]:
    by_lang: dict[str, list[Article]] = {}
    for art in devset:
        by_lang.setdefault(art["language"], []).append(art)
    pairs = []
    for arts in by_lang.values():
        for _ in range(max(2, len(arts) // 3)):
            a, b = rng.sample(arts, 2)
            wrap = {"outlet": a["outlet"]}
            a2 = {**a, "text": add_boilerplate(a["text"], {**a, **wrap})}
            b2 = {**b, "outlet": a["outlet"], "text": add_boilerplate(b["text"], {**b, **wrap})}
            pairs.append(pair("distinct", "template", a2, b2))
    return pairs


def event_of(art: Article, index: dict[str, str]) -> str:
    return str(art.get("event") or index.get(art["id"], art["id"]))


def event_index() -> dict[str, str]:
    return {aid: event for event, ids in EVENTS.items() for aid in ids}


def same_event_pairs(devset: list[Article], reports: list[Article]) -> list[dict[str, Any]]:
    index = event_index()
    arts = devset + reports
    pairs = []
    for a, b in itertools.combinations(arts, 2):
        if event_of(a, index) == event_of(b, index):
            kind = "same-event" if a["language"] == b["language"] else "same-event-xlang"
            pairs.append(pair("distinct", kind, a, b))
        elif "event" in b and b.get("base") == a["id"]:
            pairs.append(pair("distinct", "other-event-same-topic", a, b))
    return pairs


def same_topic_pairs(rng: random.Random, devset: list[Article]) -> list[dict[str, Any]]:
    pairs = []
    candidates = [
        (a, b)
        for a, b in itertools.combinations(devset, 2)
        if a["language"] == b["language"] and topics(a) & topics(b)
    ]
    for a, b in rng.sample(candidates, 40):
        pairs.append(pair("distinct", "same-topic", a, b))
    return pairs


def next_day(art: Article) -> str:
    return (date.fromisoformat(art["published"]) + timedelta(days=1)).isoformat()


def days(a: Article, b: Article) -> int:
    return abs((date.fromisoformat(a["published"]) - date.fromisoformat(b["published"])).days)


def debatable(ea: str, eb: str) -> bool:
    return eb in DEBATABLE.get(ea, set()) or ea in DEBATABLE.get(eb, set())


def story_pairs(devset: list[Article], reports: list[Article]) -> list[dict[str, Any]]:
    index = event_index()
    out = []
    for a, b in itertools.combinations(devset + reports, 2):
        ea, eb = event_of(a, index), event_of(b, index)
        if days(a, b) > 3 or debatable(ea, eb):
            continue
        label = "same" if ea == eb else "different"
        xlang = a["language"] != b["language"]
        kind = f"{label}{'-xlang' if xlang else ''}"
        out.append({"label": label, "kind": kind, "a": story_side(a), "b": story_side(b)})
    return out


def story_side(art: Article) -> Article:
    return {**side(art), "topics": sorted(topics(art) or art.get("topics", []))}


def main() -> None:
    rng = random.Random(20250601)
    devset, reports = load()
    by_id = {a["id"]: a for a in devset}
    for rep in reports:
        rep["topics"] = sorted(topics(by_id[rep["base"]]))
    pairs = (
        duplicate_pairs(rng, devset)
        + continuing_pairs(rng, devset)
        + template_pairs(rng, devset)
        + same_event_pairs(devset, reports)
        + same_topic_pairs(rng, devset)
    )
    for n, p in enumerate(pairs, 1):
        p["id"] = f"pair-{n:04d}"
    write(HERE / "dedup-pairs.jsonl", pairs)
    stories = story_pairs(devset, reports)
    for n, p in enumerate(stories, 1):
        p["id"] = f"story-{n:04d}"
    write(HERE / "dedup-story-pairs.jsonl", stories)


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    lines = [json.dumps({"id": r["id"], **r}, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels: dict[str, int] = {}
    for r in rows:
        labels[f"{r['label']}/{r['kind']}"] = labels.get(f"{r['label']}/{r['kind']}", 0) + 1
    print(path.name, len(rows), json.dumps(labels, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
