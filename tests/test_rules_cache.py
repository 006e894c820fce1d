"""The per-user cache of the expanded national rule set (issue 14): the same rules as an expansion of the
rule file, and never used when it is damaged or was made from other bytes."""

from __future__ import annotations

import json
import marshal

import pytest

from xxgk import rules
from xxgk.resources import schema_path
from xxgk.schema import load_schema


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rules.load_rules.cache_clear()
    yield tmp_path / "xxgk"
    rules.load_rules.cache_clear()


def expanded() -> rules.RuleSet:
    return rules.expand(json.loads(schema_path("rules.json").read_bytes()), load_schema(), checked=True)


def cached_files(folder):
    return sorted(folder.glob("rules-*.marshal"))


def test_a_cached_rule_set_is_the_expanded_one(cache_home):
    first = rules.load_rules()
    assert len(cached_files(cache_home)) == 1, "the first load writes the cache"
    rules.load_rules.cache_clear()
    second = rules.load_rules()  # from the cache
    fresh = expanded()
    for got in (first, second):
        assert got.version == fresh.version and got.rules == fresh.rules and got.instances == fresh.instances
    assert [i.key for i in second.instances] == [i.key for i in fresh.instances]
    assert second.computed() == fresh.computed()
    assert not list(cache_home.glob("*.part")), "no partial file left behind"


@pytest.mark.parametrize("damage", [
    lambda body: body[: len(body) // 2],  # cut short
    lambda body: b"not marshal data at all",
    lambda body: marshal.dumps((b"xxgk-rules-1", "another key", "v", (), ())),  # made from other bytes
    lambda body: marshal.dumps((b"xxgk-rules-1",)),  # another shape
])
def test_a_damaged_or_foreign_cache_is_ignored(cache_home, damage):
    rules.load_rules()
    (path,) = cached_files(cache_home)
    path.write_bytes(damage(path.read_bytes()))
    rules.load_rules.cache_clear()
    got = rules.load_rules()
    fresh = expanded()
    assert got.rules == fresh.rules and got.instances == fresh.instances
    assert len(got.instances) > 0


def test_the_cache_key_follows_the_rule_file_bytes(cache_home, monkeypatch):
    """Another rule file (or schema, or version) looks for another cache file: an old result is never met."""
    rules.load_rules()
    before = cached_files(cache_home)
    monkeypatch.setattr(rules, "version_bytes", lambda: b"another version")
    rules.load_rules.cache_clear()
    rules.load_rules()
    assert len(cached_files(cache_home)) == 2 and before[0] in cached_files(cache_home)


def test_an_unwritable_cache_folder_changes_nothing(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    rules.load_rules.cache_clear()
    try:
        got = rules.load_rules()
        assert got.instances == expanded().instances
    finally:
        rules.load_rules.cache_clear()
