"""The match stage: topic queries in, `TopicMatch` out. Pure: no I/O, no config reading.

A topic is a Boolean query over terms and named term lists (see `query` for the
grammar). `compile_topic` turns one into clauses, `build_matcher` compiles them
all and reports every bad query at once, and `Matcher.match` judges a document
against every topic, saying which terms matched where and, when a topic does not
match, why not.
"""

from monitor.pipeline.match.compile import CompiledTopic, compile_topic
from monitor.pipeline.match.explain import expand_query
from monitor.pipeline.match.matcher import Matcher, build_matcher

__all__ = ["CompiledTopic", "Matcher", "build_matcher", "compile_topic", "expand_query"]
