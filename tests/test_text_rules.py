"""Rule 9 (text against tables) on a corpus of real sentences: every stated figure read, nothing else read.

The corpus (tests/text_corpus.json) holds sentences from the shared real reports (pingtan, shuyang,
hongze, the seed) and realistic variants, each with the facts it states and the figure. A reading is
keyed by what the rule compares it with: the fact ids of its expected side joined by " + " (so a
combined figure such as 予以公开及部分公开42件 is keyed by the sum of the two rows), or, for a rule that
compares two figures of the text, the rule id with both figures.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from conftest import set_fact
from xxgk import from_document, validate
from xxgk.rules import load_rules
from xxgk.validate import text_reading

CORPUS = json.loads((Path(__file__).parent / "text_corpus.json").read_text(encoding="utf-8"))["sentences"]


def text_rules():
    return [inst for inst in load_rules().instances if "text" in inst.rule.requires]


def key_of(inst) -> str:
    expected = inst.check.expected
    if all(t.source == "fact" and t.coef == 1 for t in expected):
        return " + ".join(t.fact for t in expected)
    return inst.rule.id


def readings(entry: dict) -> dict:
    """What the rule file reads in one sentence, placed in its text part."""
    facts = {f"texts.{entry.get('part', 'overview')}": entry["sentence"]}
    found = {}
    for inst in text_rules():
        reading = text_reading(inst, facts)
        if reading is None:
            continue
        figures, _ = reading
        found[key_of(inst)] = figures[0] if key_of(inst) != inst.rule.id else figures
    return found


def test_corpus_is_well_formed():
    keys = {key_of(inst) for inst in text_rules()}
    assert len(CORPUS) >= 50
    assert sum(e["from"].startswith("real") for e in CORPUS) >= 15
    for entry in CORPUS:
        assert set(entry["states"]) <= keys, entry
    # every text rule is exercised by some sentence
    assert keys == {k for e in CORPUS for k in e["states"]}


def test_precision_and_recall_on_the_corpus():
    expected = found = correct = 0
    wrong = []
    for entry in CORPUS:
        got = readings(entry)
        want = {k: v for k, v in entry["states"].items()}
        expected += len(want)
        found += len(got)
        correct += sum(1 for k, v in got.items() if want.get(k) == v)
        if got != want:
            wrong.append((entry["sentence"], "read", got, "expected", want))
    precision = correct / found if found else 1.0
    recall = correct / expected if expected else 1.0
    print(f"text rules on {len(CORPUS)} sentences: {expected} stated figures, {found} read, {correct} right; "
          f"precision {precision:.3f}, recall {recall:.3f}")
    assert wrong == []
    assert (precision, recall) == (1.0, 1.0)


@pytest.mark.parametrize("sentence", [
    "全年共收到政府信息公开申请56件，其中予以公开及部分公开42件，不予公开3件。",
    "本年度办结的申请中，予以公开及部分公开 208 件。",
])
def test_a_combined_figure_is_compared_with_the_sum_of_its_rows(clean_doc, sentence):
    clean_doc["texts"]["overview"] = sentence
    figure = int(re.search(r"公开\s*(\d+)\s*件", sentence).group(1))
    set_fact(clean_doc, "applications.results.granted.total", figure - 10)
    set_fact(clean_doc, "applications.results.partially_granted.total", 10)
    text = {f.rule for f in validate(from_document(clean_doc)).findings if f.rule.startswith("text.")}
    assert not text & {"text.granted", "text.partially_granted", "text.granted_and_partially"}
    # the sum wrong by one: only the combined rule speaks, with the sum as what the table says
    set_fact(clean_doc, "applications.results.partially_granted.total", 11)
    found = [f for f in validate(from_document(clean_doc)).findings
             if f.rule in ("text.granted", "text.partially_granted", "text.granted_and_partially")]
    assert [(f.rule, f.actual, f.expected) for f in found] == [("text.granted_and_partially", figure, figure + 1)]


def test_natural_persons_after_she_ji_is_read(clean_doc):
    clean_doc["texts"]["overview"] = "全年共受理政府信息公开申请75件，涉及自然人72件，法人或其他组织3件。"
    set_fact(clean_doc, "applications.received.natural_persons", 71)
    found = [f for f in validate(from_document(clean_doc)).findings if f.rule == "text.applications_natural_persons"]
    assert [(f.actual, f.expected) for f in found] == [(72, 71)]
    assert "“全年共受理政府信息公开申请75件，涉及自然人72件，法人或其他组织3件。”" in found[0].message


def _disagreeing(doc: dict, key: str, figure) -> dict:
    """The document with the table made to differ from the stated figure (by one, on the first fact)."""
    if key.startswith("text."):
        return doc
    facts = key.split(" + ")
    for fact in facts[1:]:
        set_fact(doc, fact, 0)
    set_fact(doc, facts[0], figure + 1)
    return doc


@pytest.mark.parametrize("entry", [e for e in CORPUS if e["states"]], ids=lambda e: e["sentence"][:24])
def test_every_warning_quotes_its_sentence(clean_doc, entry):
    for key, figure in entry["states"].items():
        doc = _disagreeing(copy.deepcopy(clean_doc), key, figure)
        doc["texts"][entry.get("part", "overview")] = entry["sentence"]
        findings = [f for f in validate(from_document(doc)).findings if f.rule.startswith("text.")]
        mine = [f for f in findings if key_of(next(i for i in text_rules() if i.rule.id == f.rule)) == key]
        if key.startswith("text.") and figure[0] == figure[1]:
            assert mine == []
            continue
        assert len(mine) == 1, (key, [f.message for f in findings])
        quote = re.search(r"“(.*?)”", mine[0].message).group(1)
        assert quote and quote in entry["sentence"]
        if not re.search(r"[；\n]", entry["sentence"]):
            assert quote == entry["sentence"].strip()


def test_every_text_rule_message_quotes():
    for inst in text_rules():
        assert "“{quote}”" in inst.rule.message, inst.rule.id
