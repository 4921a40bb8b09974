"""The real-model demo: MiniLM sentence similarity, batched. `make test` installs its extra
(and sets LINEUP_REQUIRE_MINILM), so there it runs and must pass; elsewhere it is skipped."""

import os

import pytest

from models_registry import minilm
from models_registry.registry import all_functions, get_function

if not minilm.AVAILABLE:
    if os.environ.get("LINEUP_REQUIRE_MINILM"):
        pytest.fail("the minilm extra is not installed", pytrace=False)
    pytest.skip("the minilm extra is not installed", allow_module_level=True)

CANDIDATES = "A kitten rests on a rug\nStock markets fell sharply\nThe dog sleeps outside"


def test_it_is_registered_batched_with_a_warm_up():
    function = get_function("sentence_similarity")
    assert function.batch is True and function.warm_up is minilm.model
    assert "sentence_similarity" in all_functions()


def test_the_closest_sentence_in_meaning_comes_first():
    (result,) = minilm.sentence_similarity(["A cat sits on the mat"], [CANDIDATES])[0]
    ranked = sorted(result, key=result.get, reverse=True)
    assert ranked[0] == "A kitten rests on a rug"
    assert result["A kitten rests on a rug"] > 0.4 > result["Stock markets fell sharply"]
    assert all(0 <= score <= 1 for score in result.values())


def test_a_batch_gives_each_job_what_it_would_get_alone():
    sentences = ["A cat sits on the mat", "How do I bake bread?", "Nothing to compare"]
    candidates = [CANDIDATES, "Recipe for sourdough\nFixing a flat tyre", ""]
    (together,) = minilm.sentence_similarity(sentences, candidates)
    for sentence, text, batched in zip(sentences, candidates, together):
        (alone,) = minilm.sentence_similarity([sentence], [text])[0]
        assert alone.keys() == batched.keys()
        assert all(abs(alone[k] - batched[k]) < 1e-4 for k in alone)
    assert together[2] == {}
