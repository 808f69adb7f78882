"""Deterministic, offline stand-ins for the models LightRAG calls: a character tokenizer, an
LLM that answers entity/relation extraction in LightRAG's delimited format, and a hash-based
embedding function. Same input, same output, on every machine; no network."""

import hashlib
import re

import numpy as np

EMBEDDING_DIM = 32


class CharTokenizer:
    """One token per Unicode code point: reversible, stateless (thread-safe), offline."""

    def encode(self, content):
        return [ord(c) for c in content]

    def decode(self, tokens):
        return "".join(chr(t) for t in tokens)

    def __deepcopy__(self, memo):
        return self


def make_tokenizer():
    from lightrag.utils import Tokenizer

    return Tokenizer("char", CharTokenizer())


TUPLE = "<|#|>"
COMPLETE = "<|COMPLETE|>"
_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?\b")


def _input_text(prompt):
    m = re.search(r"---Input Text---\s*```\n?(.*?)```", prompt, re.S)
    return m.group(1) if m else None


def extraction(text):
    """Entities: the capitalised names in `text` (first 6, in order); relations: each name
    with the next one. Descriptions depend only on `text`."""
    names = []
    for n in _NAME.findall(text):
        if n not in names:
            names.append(n)
    names = names[:6]
    h = hashlib.sha256(text.encode()).hexdigest()[:8]
    rows = [
        f"entity{TUPLE}{n}{TUPLE}concept{TUPLE}{n} appears in passage {h}." for n in names
    ]
    rows += [
        f"relation{TUPLE}{a}{TUPLE}{b}{TUPLE}mentioned together{TUPLE}{a} and {b} appear together in passage {h}."
        for a, b in zip(names, names[1:])
    ]
    rows.append(COMPLETE)
    return "\n".join(rows)


async def llm(prompt, system_prompt=None, history_messages=None, **kwargs):
    """Extraction prompts get extraction rows; a follow-up ("gleaning") or any other prompt
    (description summaries) gets a short deterministic answer."""
    text = _input_text(prompt)
    if text is not None:
        return extraction(text)
    if "missed or incorrectly formatted" in prompt:
        return COMPLETE
    h = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return f"Summary {h}."


async def embed(texts, **kwargs):
    out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        d = hashlib.sha256(t.encode()).digest()
        v = np.frombuffer(d, dtype=np.uint8).astype(np.float32) - 127.5
        out[i] = v / np.linalg.norm(v)
    return out


def make_rag(working_dir, workspace=""):
    from lightrag import LightRAG
    from lightrag.utils import EmbeddingFunc

    return LightRAG(
        working_dir=working_dir,
        workspace=workspace,
        llm_model_func=llm,
        llm_model_name="fake-llm",
        embedding_func=EmbeddingFunc(
            embedding_dim=EMBEDDING_DIM, max_token_size=8192, func=embed, model_name="fake-embed"
        ),
        tokenizer=make_tokenizer(),
        chunk_token_size=300,
        chunk_overlap_token_size=30,
        max_parallel_insert=1,
        llm_model_max_async=1,
        embedding_func_max_async=1,
        entity_extract_max_gleaning=0,
    )


WORDS = (
    "Alice Bob Carol Dover Essex Fleet Grace Harold Iris Jasper Kent London Mercy Norfolk "
    "Oliver Pip Quilp Rose Sydney Tulkinghorn Ursula Vholes Wemmick Yarmouth"
).split()


def document(n):
    """Document `n`: a few sentences naming characters and places; length varies so the
    number of chunks per document varies (1-3 with the character tokenizer)."""
    sentences = []
    for k in range(3 + (n * 7) % 9):
        a = WORDS[(n * 3 + k) % len(WORDS)]
        b = WORDS[(n * 5 + 2 * k + 1) % len(WORDS)]
        sentences.append(
            f"In chapter {n}.{k} {a} met {b} near the old mill and spoke of the weather and the road."
        )
    return f"Document {n}. " + " ".join(sentences)
