import json
from pathlib import Path

import numpy as np
import pytest

from rag import analysis, lexical
from rag.analysis import terms
from rag.lexical import LexicalIndex


def test_terms_fold_apostrophes_doubled_letters_and_accents():
    assert terms("al-Sa’eed") == terms("al-Saeed") == terms("Al-Sa'eed")
    assert terms("Liwaa") == terms("Liwa")
    assert terms("Café") == terms("cafe")


def test_terms_stem_and_drop_stopwords():
    assert terms("The commanders were commanding") == terms("commander command")
    assert terms("He led them") == terms("lead")  # irregular past form
    assert terms("the of and") == []


def test_a_dotted_number_is_a_term_whole_besides_its_parts():
    """ "2.10.0" is told from "2.11.2", whose parts it mostly shares; nothing else changes."""
    assert terms("When was man-db 2.10.0 released?") == ["man", "db", "2", "10", "0", "2.10.0", "releas"]
    assert terms("v1.5.4 at 127.0.0.1.") == ["v1", "5", "4", "1.5.4", "127", "0", "0", "1", "127.0.0.1"]
    assert terms("snake_case at the end of sentence 3. Next") == ["snake", "case", "end", "sentenc", "3", "next"]


def test_spelling_variants_one_edit_apart_match():
    index = LexicalIndex.build(
        ["Bouthaina Shaaban leads the foundation.", "Buthaina Shaaban gave a speech.", "Other text."]
    )
    expanded = index.expand(terms("Buthaina"))
    assert expanded[terms("Buthaina")[0]] == {"bouthaina", "buthaina"}
    scores = index.bm25(index.weights(expanded))
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == 0


def test_short_terms_are_not_expanded():
    index = LexicalIndex.build(["The cat sat.", "The cut healed."])
    assert index.expand(terms("cat")) == {"cat": {"cat"}}


def test_bm25_ranks_by_known_answer():
    index = LexicalIndex.build(["apples and pears", "pears pears pears", "boats and sails"])
    weights = index.weights(index.expand(terms("pears")))
    scores = index.bm25(weights)
    assert scores.argmax() == 1 and scores[2] == 0


def test_coverage_counts_unknown_terms_against_the_query():
    index = LexicalIndex.build(["apples grow on trees", "pears"])
    weights = index.weights(index.expand(terms("apples trees")))
    assert index.coverage_of(weights, [0]).tolist() == [1.0]
    unknown = index.weights(index.expand(terms("apples zeppelin")))
    first, second = index.coverage_of(unknown, [0, 1]).tolist()
    assert 0 < first < 0.5 and second == 0.0
    assert first == pytest.approx(index.coverage(unknown, set(terms("apples grow on trees"))))


def _seed_passages() -> list[str]:
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    return [p for f in sorted(seeds.glob("*.txt")) for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]


QUESTIONS = (
    "When was the Liwa al-Quds founded?",
    "Who is Bouthaina Shaaban?",
    "How many people were killed in the attack on the refugee camp?",
    "zeppelin",
)


def test_bm25_scores_are_those_of_bm25s():
    bm25s = pytest.importorskip("bm25s")
    texts = _seed_passages() + [""]  # an empty passage too: bm25s counts it as one empty token
    index = LexicalIndex.build(texts)
    reference = bm25s.BM25()
    reference.index([terms(t) or [""] for t in texts], show_progress=False)
    for question in QUESTIONS:
        weights = index.weights(index.expand(terms(question)))
        tokens = sorted({v for variants, _ in weights for v in variants})
        expected = reference.get_scores(tokens) if tokens else np.zeros(len(texts))
        np.testing.assert_allclose(index.bm25(weights), expected, rtol=1e-5, atol=1e-6)


def test_update_equals_a_fresh_build_and_drops_unused_terms():
    texts = _seed_passages()
    half = len(texts) // 2
    before = LexicalIndex.build(texts[:half] + ["zeppelins everywhere"])
    keep = np.ones(before.n, dtype=bool)
    keep[::3] = False
    keep[-1] = False
    updated = before.update(keep, texts[half:])
    fresh = LexicalIndex.build([t for t, k in zip(texts[:half], keep, strict=False) if k] + texts[half:])
    assert "zeppelin" not in updated.ids and updated.df.min() > 0
    assert set(updated.vocab) == set(fresh.vocab)
    for question in QUESTIONS:
        a = updated.bm25(updated.weights(updated.expand(terms(question))))
        b = fresh.bm25(fresh.weights(fresh.expand(terms(question))))
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for row in range(updated.n):
        assert {updated.vocab[i] for i in updated.terms_of(row)} == {fresh.vocab[i] for i in fresh.terms_of(row)}
        assert list(updated.terms_of(row)) == sorted(updated.terms_of(row))


def test_save_and_load_round_trip(tmp_path):
    index = LexicalIndex.build(_seed_passages())
    names = index.save(tmp_path)
    assert sorted(names) == sorted(f"lexical.{f}" for f in lexical.FILES)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.vocab == index.vocab and loaded.n == index.n
    weights = index.weights(index.expand(terms(QUESTIONS[0])))
    np.testing.assert_array_equal(loaded.bm25(weights), index.bm25(weights))
    assert loaded.expand(terms("Buthaina")) == index.expand(terms("Buthaina"))


def test_terms_of_another_analyzer_are_not_used(tmp_path):
    LexicalIndex.build(["apples and pears"]).save(tmp_path)
    vocab = json.loads((tmp_path / "lexical.vocab.json").read_text())
    vocab["analyzer"] = analysis.ANALYZER + 1
    (tmp_path / "lexical.vocab.json").write_text(json.dumps(vocab))
    assert LexicalIndex.load(tmp_path) is None


def test_misaligned_files_are_refused(tmp_path):
    LexicalIndex.build(["apples and pears", "boats"]).save(tmp_path)
    np.save(tmp_path / "lexical.terms.npy", np.array([0, 1, 99], dtype=np.int32))
    with pytest.raises(ValueError, match="do not line up"):
        LexicalIndex.load(tmp_path)
