"""What the commands read from the store: article lists, stories, matches, counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Select, func, select

from monitor.models import ArticleView, StoredText, utcnow
from monitor.storage.articles import ArticleQueries
from monitor.storage.session import as_utc
from monitor.storage.tables import ArticleRow, EntryRow, FeedRow, MatchRow
from monitor.text import clean_date


class CommandReads(ArticleQueries):
    def articles_query(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        include_all: bool = False,
        limit: int | None = None,
    ) -> Select[ArticleRow]:
        # News time: when it was published, else when it was fetched (no date in the feed).
        news_time = func.coalesce(ArticleRow.published, ArticleRow.fetched_at)
        query = select(ArticleRow).order_by(news_time.desc(), ArticleRow.id.desc())
        if topic:
            query = query.where(
                ArticleRow.id.in_(select(MatchRow.article_id).where(MatchRow.topic_id == topic))
            )
        elif not include_all:
            query = query.where(ArticleRow.matched.is_(True))
        if not include_all:
            query = query.where(ArticleRow.duplicate_of.is_(None))
        if since:
            query = query.where(news_time >= since)
        if limit:
            query = query.limit(limit)
        return query

    def articles(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        include_all: bool = False,
        limit: int | None = None,
    ) -> list[ArticleView]:
        """Stored articles, newest news first (published, else fetched): matched originals,
        or everything with ``include_all``; ``since`` on that same time."""
        query = self.articles_query(topic=topic, since=since, include_all=include_all, limit=limit)
        with self.reading() as session:
            rows = list(session.scalars(query))
        return self._views(rows)

    def articles_by_id(self, ids: Sequence[int]) -> list[ArticleView]:
        with self.reading() as session:
            rows = list(session.scalars(select(ArticleRow).where(ArticleRow.id.in_(list(ids)))))
        return self._views(rows)

    def copies_of(self, article_ids: Sequence[int]) -> dict[int, list[ArticleView]]:
        """The duplicates folded into each of ``article_ids``."""
        with self.reading() as session:
            query = select(ArticleRow).where(ArticleRow.duplicate_of.in_(list(article_ids)))
            rows = list(session.scalars(query.order_by(ArticleRow.id)))
        copies: dict[int, list[ArticleView]] = {}
        for view in self._views(rows):
            assert view.duplicate_of is not None
            copies.setdefault(view.duplicate_of, []).append(view)
        return copies

    def story(self, story_id: int) -> list[ArticleView]:
        """The articles of one story, first one first."""
        with self.reading() as session:
            query = select(ArticleRow).where(ArticleRow.story_id == story_id)
            rows = list(session.scalars(query.order_by(ArticleRow.id)))
        return self._views(rows)

    def _views(self, rows: Sequence[ArticleRow]) -> list[ArticleView]:
        topics = self.matches_for([row.id for row in rows])
        return [
            ArticleView(
                id=row.id,
                url=row.url,
                title=row.title,
                outlet=row.outlet,
                published=clean_date(row.published, as_utc(row.fetched_at)),
                fetched_at=as_utc(row.fetched_at) or utcnow(),
                language=row.language,
                text_chars=row.text_chars,
                duplicate_of=row.duplicate_of,
                duplicate_kind=row.duplicate_kind,
                duplicate_reason=row.duplicate_reason,
                story_id=row.story_id,
                extract_error=row.extract_error,
                topics=topics.get(row.id, {}),
            )
            for row in rows
        ]

    def match_counts(self, windows: dict[str, datetime]) -> dict[str, dict[str, int]]:
        """Matches per topic stored since each window's start: {topic: {window: n}}."""
        counts: dict[str, dict[str, int]] = {}
        with self.reading() as session:
            for window, since in windows.items():
                query = (
                    select(MatchRow.topic_id, func.count())
                    .where(MatchRow.matched_at >= since)
                    .group_by(MatchRow.topic_id)
                )
                for topic_id, count in session.execute(query):
                    counts.setdefault(topic_id, {})[window] = int(count)
        return counts

    def stored_texts(self, since: datetime) -> Iterator[StoredText]:
        """Articles stored since ``since`` that still have their text, oldest first."""
        with self.reading() as session:
            query = (
                select(
                    ArticleRow.id,
                    ArticleRow.title,
                    ArticleRow.text,
                    ArticleRow.language,
                    ArticleRow.outlet,
                )
                .where(ArticleRow.fetched_at >= since, ArticleRow.text.is_not(None))
                .order_by(ArticleRow.id)
                .execution_options(yield_per=1000)
            )
            for row in session.execute(query):
                yield StoredText(int(row.id), row.title, row.text or "", row.language, row.outlet)

    def counts(self) -> dict[str, int]:
        with self.reading() as session:
            return {
                "feeds": session.scalar(select(func.count()).select_from(FeedRow)) or 0,
                "entries": session.scalar(select(func.count()).select_from(EntryRow)) or 0,
                "articles": session.scalar(select(func.count()).select_from(ArticleRow)) or 0,
                "matched": session.scalar(
                    select(func.count()).select_from(ArticleRow).where(ArticleRow.matched)
                )
                or 0,
                "stories": session.scalar(select(func.count(func.distinct(ArticleRow.story_id))))
                or 0,
            }
