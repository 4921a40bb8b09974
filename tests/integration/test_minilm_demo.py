"""The real model through the whole stack: the worker loads MiniLM when it starts, and
visitors' jobs are encoded together in batches."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from models_registry import minilm
from queueapp.store import key, pool_key, worker_key

pytestmark = pytest.mark.stack

if not minilm.AVAILABLE:
    if os.environ.get("LINEUP_REQUIRE_MINILM"):
        pytest.fail("the minilm extra is not installed", pytrace=False)
    pytest.skip("the minilm extra is not installed", allow_module_level=True)

TOPICS = {
    "A cat sits on the mat": "A kitten rests on a rug",
    "How do I bake bread?": "Recipe for sourdough loaves",
    "The team won the final": "They became champions after the match",
    "It will rain tomorrow": "Showers are forecast for the next day",
}


def batch_sizes(stack) -> tuple[float, float]:
    """The demo's batch size histogram so far: jobs in batches, and batches."""
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(requests.get(f"{stack.base_url}/metrics").text)
        for sample in family.samples
        if sample.labels.get("demo") == "sentence-similarity"
    }
    return found.get("lineup_batch_size_sum", 0), found.get("lineup_batch_size_count", 0)


def until_waiting(stack, slug: str, count: int) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    deadline = time.monotonic() + 60
    while client.zcard(key(slug, "waiting")) < count:
        assert time.monotonic() < deadline, "the jobs did not all join"
        time.sleep(0.05)


def test_visitors_get_the_closest_sentences_from_batches(stack):
    candidates = "\n".join(TOPICS.values())
    url = f"{stack.base_url}/api/v1/demos/sentence-similarity/predict/"
    requests.post(url, json={"data": ["warm", candidates]})  # the model is loaded by now
    jobs_before, batches_before = batch_sizes(stack)  # other tests may have used the demo

    def ask(sentence: str) -> str:
        done = requests.Session().post(url, json={"data": [sentence, candidates]}).json()
        assert done["status"] == "completed", done
        return done["output"]["data"][0]["label"]

    sentences = list(TOPICS) * 4
    # All of them wait first (the line paused), so batches form whatever the machine's speed.
    stack.pause_demo("sentence-similarity")
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            asked = [pool.submit(ask, sentence) for sentence in sentences]
            until_waiting(stack, "sentence-similarity", len(sentences))
            stack.resume_demo("sentence-similarity")
            answers = [answer.result() for answer in asked]
    finally:
        stack.resume_demo("sentence-similarity")
    assert answers == [TOPICS[sentence] for sentence in sentences]

    jobs, batches = batch_sizes(stack)
    assert jobs - jobs_before == len(sentences)
    # Waiting jobs were encoded together.
    assert (jobs - jobs_before) / (batches - batches_before) > 1.5


def test_the_worker_loads_the_model_when_it_starts_and_says_so(stack):
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    deadline = time.monotonic() + 60
    while True:
        names = client.zrange(pool_key("default"), 0, -1)
        about = [json.loads(client.get(worker_key(name)) or "{}") for name in names]
        if any("sentence_similarity" in worker.get("models", []) for worker in about):
            break
        assert time.monotonic() < deadline, about
        time.sleep(0.5)
    gpu = about[0]["gpu"]
    assert about[0]["pools"] == ["default"] and (gpu is None or gpu["memory_gb"] > 0)
