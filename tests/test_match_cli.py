"""`monitor topics ...` on a temporary copy of the shipped configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from monitor.cli import main

REPO = Path(__file__).resolve().parent.parent
DEVSET = REPO / "tests" / "data" / "topic-devset.jsonl"
SHIPPED = yaml.safe_load((REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
TROOPS_MIN = SHIPPED["topics"][0]["min_score"]
ARTICLE = """North Korean troops reach Kursk front, Seoul says
SEOUL — North Korea has sent about 3,000 more soldiers to Russia, South Korea's spy agency said.
The troops were moved to the Kursk region, where Ukrainian forces still hold ground.
"""


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    for source in (REPO / "config").glob("*.yaml"):
        shutil.copy(source, directory / source.name)
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    (directory / "monitor.yaml").write_text(
        f"feeds: feeds.yaml\ntopics: topics.yaml\ndatabase:\n  url: {database_url}\n"
    )
    (directory / "feeds.yaml").write_text("feeds: []\n")
    return directory / "monitor.yaml"


def run(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), "topics", *args], input=stdin)


def test_list_shows_each_topic_as_written_and_expanded(config: Path) -> None:
    result = run(config, "list")
    assert result.exit_code == 0, result.output
    assert (
        f"nk-troops  North Korean troops in Russia's war  (min_score {TROOPS_MIN:g})"
        in result.stdout
    )
    assert "  query:    ((@north_korea NEAR/15 @troops)" in result.stdout
    assert '  expanded: ((("North Korea*" OR' in result.stdout


def test_list_json(config: Path) -> None:
    rows = [json.loads(line) for line in run(config, "list", "--json").stdout.splitlines()]
    assert [row["id"] for row in rows] == ["nk-troops", "nk-russia-pact"]
    assert "@north_korea" in rows[0]["query"] and "@north_korea" not in rows[0]["expanded"]
    assert rows[0]["min_score"] == TROOPS_MIN


def test_test_a_file_shows_scores_terms_and_reasons(config: Path, tmp_path: Path) -> None:
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    result = run(config, "test", str(article))
    assert result.exit_code == 0, result.output
    assert "nk-troops: MATCH, score" in result.stdout
    assert (
        "  title 'North Korea*': «North Korean troops reach Kursk front, Seoul says»"
        in result.stdout
    )
    assert "nk-russia-pact: no match, score 0" in result.stdout
    assert "  why: none of @treaty, @treaty_clause^2, " in result.stdout


def test_test_stdin_as_json(config: Path) -> None:
    result = run(config, "test", "-", "--json", stdin=ARTICLE)
    payload = json.loads(result.stdout)
    assert payload["title"] == "North Korean troops reach Kursk front, Seoul says"
    troops, pact = payload["topics"]
    assert troops["id"] == "nk-troops" and troops["matched"] is True
    assert troops["min_score"] == TROOPS_MIN and troops["reason"] is None
    hit = troops["hits"][0]
    assert ARTICLE.splitlines()[0][hit["start"] : hit["end"]] == "North Korean"
    assert pact["matched"] is False and pact["reason"]


def test_test_jsonl_gives_one_line_per_input_line(config: Path) -> None:
    lines = [
        json.dumps({"id": "a", "title": "North Korean troops reach Kursk", "text": ARTICLE}),
        "not json",
        json.dumps({"id": "c", "title": "Markets", "language": "en"}),
        json.dumps({"id": "d", "title": "Weather", "text": "Sunny in Seoul."}),
    ]
    result = run(config, "test", "--jsonl", "-", stdin="\n".join(lines) + "\n")
    assert result.exit_code == 1  # some lines were bad
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["a", None, "c", "d"]
    assert rows[0]["matched"] == ["nk-troops"]
    assert set(rows[0]["scores"]) == {"nk-troops", "nk-russia-pact"}
    assert rows[1]["error"].startswith("line 2: not JSON")
    assert rows[2]["error"] == "line 3: field 'text' is missing"
    assert rows[3] == {
        "id": "d",
        "matched": [],
        "scores": {"nk-troops": 0.0, "nk-russia-pact": 0.0},
    }
    assert "line 2" in result.stderr


def test_eval_on_the_dev_set_by_language(config: Path) -> None:
    mapping = "--label-map=troops=nk-troops,pact=nk-russia-pact"
    result = run(config, "eval", str(DEVSET), mapping, "--by-language")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["topic", "lang", "n", "TP", "FP", "FN", "precision", "recall", "F1"]
    assert rows[0].split()[:3] == ["nk-russia-pact", "all", "120"]
    assert any(row.split()[:2] == ["nk-troops", "ja"] for row in rows)


def test_eval_json_lists_errors_with_reasons(config: Path, tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    records = [
        {"id": "fn", "title": "Markets", "text": "Stocks rose.", "labels": ["nk-troops"]},
        {"id": "tn", "title": "Weather", "text": "Sunny.", "labels": []},
    ]
    labelled.write_text("".join(json.dumps(r) + "\n" for r in records))
    tallies = json.loads(run(config, "eval", str(labelled), "--json").stdout)["tallies"]
    troops = next(t for t in tallies if t["topic"] == "nk-troops")
    assert (troops["true_positives"], troops["false_negatives"], troops["recall"]) == (0, 1, 0.0)
    (error,) = troops["errors"]
    assert error["id"] == "fn" and error["kind"] == "false negative"
    assert error["reason"] == "none of (@north_korea NEAR/15 @troops), @nk_troops"


def test_eval_refuses_a_malformed_file(config: Path, tmp_path: Path) -> None:
    labelled = tmp_path / "bad.jsonl"
    labelled.write_text('{"id": "x", "title": "t"}\n')
    result = run(config, "eval", str(labelled))
    assert result.exit_code == 2
    assert "line 1: field 'text' must be a string" in result.stderr


def test_suggest_prints_a_draft_topic_file(config: Path, tmp_path: Path) -> None:
    result = run(config, "suggest", str(tmp_path / "seeds" / "nk-troops-russia.txt"))
    assert result.exit_code == 0, result.output
    draft = yaml.safe_load(result.stdout)
    (topic,) = draft["topics"]
    assert topic["id"] == "nk-troops-russia"
    assert topic["seeds"] == ["../seeds/nk-troops-russia.txt"]
    assert "@north_korea" in topic["query"]


def test_a_bad_query_stops_the_command_with_its_key(config: Path) -> None:
    topics = config.parent / "topics.yaml"
    data = yaml.safe_load(topics.read_text(encoding="utf-8"))
    data["topics"][1]["query"] = "@treaty AND (@north_korea"
    topics.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run(config, "list")
    assert result.exit_code == 2
    assert "topics[1].query (topic nk-russia-pact): expected ')' to close the '('" in result.stderr


def test_a_thousand_term_near_chain_is_a_listed_problem_not_a_traceback(config: Path) -> None:
    topics = config.parent / "topics.yaml"
    data = yaml.safe_load(topics.read_text(encoding="utf-8"))
    data["topics"][0]["query"] = " NEAR/3 ".join(f"w{i}" for i in range(1200))
    topics.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run(config, "list")
    assert result.exit_code == 2
    assert (
        "topics[0].query (topic nk-troops): the query nests more than 100 operators"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_list_rows_take_stored_match_counts_when_given() -> None:
    from monitor.cli.topics import topic_rows
    from monitor.models import TopicDefinition

    topics = [TopicDefinition("a", "@x", name="A"), TopicDefinition("b", "kursk", name="B")]
    rows = topic_rows(topics, {"x": ["one", "two words"]}, {"a": {"day": 3, "week": 9}})
    assert rows[0]["expanded"] == '(one OR "two words")'
    assert rows[0]["matches"] == {"day": 3, "week": 9}
    assert rows[1]["matches"] == {"day": 0, "week": 0}
    assert "matches" not in topic_rows(topics, {"x": ["one"]})[0]
