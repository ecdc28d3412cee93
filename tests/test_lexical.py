from rag.lexical import LexicalIndex, terms


def test_terms_fold_apostrophes_doubled_letters_and_accents():
    assert terms("al-Sa’eed") == terms("al-Saeed") == terms("Al-Sa'eed")
    assert terms("Liwaa") == terms("Liwa")
    assert terms("Café") == terms("cafe")


def test_terms_stem_and_drop_stopwords():
    assert terms("The commanders were commanding") == terms("commander command")
    assert terms("He led them") == terms("lead")  # irregular past form
    assert terms("the of and") == []


def test_spelling_variants_one_edit_apart_match():
    index = LexicalIndex(["Bouthaina Shaaban leads the foundation.", "Buthaina Shaaban gave a speech.", "Other text."])
    expanded = index.expand(terms("Buthaina"))
    assert expanded[terms("Buthaina")[0]] == {"bouthaina", "buthaina"}
    scores = index.bm25(index.weights(expanded))
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == 0


def test_short_terms_are_not_expanded():
    index = LexicalIndex(["The cat sat.", "The cut healed."])
    assert index.expand(terms("cat")) == {"cat": {"cat"}}


def test_bm25_ranks_by_known_answer():
    index = LexicalIndex(["apples and pears", "pears pears pears", "boats and sails"])
    weights = index.weights(index.expand(terms("pears")))
    scores = index.bm25(weights)
    assert scores.argmax() == 1 and scores[2] == 0


def test_coverage_counts_unknown_terms_against_the_query():
    index = LexicalIndex(["apples grow on trees", "pears"])
    weights = index.weights(index.expand(terms("apples trees")))
    assert index.coverage(weights, index.sets[0]) == 1.0
    unknown = index.weights(index.expand(terms("apples zeppelin")))
    assert 0 < index.coverage(unknown, index.sets[0]) < 0.5
    assert index.coverage(unknown, index.sets[1]) == 0.0
