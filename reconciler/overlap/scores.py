"""How strongly two tasks overlap: three channels, one combined score in [0, 1], a level, and the
reason in words.

- fuzzy: rapidfuzz `token_set_ratio` of the titles, prefixes stripped (0..1);
- lexical: the candidate's BM25 score in a LanceDB full-text search for the query, divided by the
  best score of that search (0..1; None when the candidate was not among the hits);
- semantic: cosine of the MiniLM embeddings, clipped at 0 (None when the model is unavailable).

The combination is a weighted mean of the channels present; when both sides name identifiers and
none agree ("Gemma 4-e4n" against "4-e4b"), it is multiplied by `IDENTIFIER_PENALTY`. The weights
and default thresholds were chosen on the labelled pairs in `benchmarks/overlap_data/` (see
`benchmarks/bench_overlap_quality.py`, which prints the figures).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.overlap.text import identifiers, strip_title, words

FUZZY_WEIGHT = 0.3
LEXICAL_WEIGHT = 0.0  # shown, and used to find candidates; on the labelled set it adds nothing to the other two
SEMANTIC_WEIGHT = 0.7
IDENTIFIER_PENALTY = 0.6
STRONG = 0.8  # default threshold of a strong match: precision first
WEAK = 0.45  # default threshold of a weak match: related work, recall first


@dataclass(frozen=True, slots=True)
class Weights:
    fuzzy: float = FUZZY_WEIGHT
    lexical: float = LEXICAL_WEIGHT
    semantic: float = SEMANTIC_WEIGHT
    identifier_penalty: float = IDENTIFIER_PENALTY


@dataclass(frozen=True, slots=True)
class Channels:
    fuzzy: float
    lexical: float | None
    semantic: float | None


def fuzzy(title_a: str, title_b: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.token_set_ratio(strip_title(title_a).lower(), strip_title(title_b).lower())) / 100.0


def combine(ch: Channels, ids_a: frozenset[str], ids_b: frozenset[str], weights: Weights = Weights()) -> float:
    parts = [(ch.fuzzy, weights.fuzzy)]
    if ch.lexical is not None:
        parts.append((ch.lexical, weights.lexical))
    if ch.semantic is not None:
        parts.append((max(0.0, ch.semantic), weights.semantic))
    total = sum(w for _, w in parts)
    score = sum(v * w for v, w in parts) / total if total > 0 else ch.fuzzy
    if ids_a and ids_b and not ids_a & ids_b:
        score *= weights.identifier_penalty
    return round(min(1.0, max(0.0, score)), 4)


def level(score: float, strong: float = STRONG, weak: float = WEAK) -> str | None:
    if score >= strong:
        return "strong"
    if score >= weak:
        return "weak"
    return None


def reason(title_a: str, title_b: str, ch: Channels) -> str:
    """Which words and identifiers of the titles agree, which differ, and how close the meaning is."""
    ids_a, ids_b = identifiers(title_a), identifiers(title_b)
    wa, wb = set(words(strip_title(title_a))), set(words(strip_title(title_b)))
    parts = []
    shared = sorted(wa & wb)
    if shared:
        parts.append("titles share " + ", ".join(shared[:6]))
    only = sorted(wa ^ wb)
    if only:
        parts.append("differ in " + ", ".join(only[:6]))
    if ids_a and ids_b:
        same = sorted(ids_a & ids_b)
        if same:
            parts.append("same identifiers " + ", ".join(same[:4]))
        else:
            parts.append(f"identifiers differ ({', '.join(sorted(ids_a)[:3])} vs {', '.join(sorted(ids_b)[:3])})")
    if ch.semantic is not None:
        closeness = "close" if ch.semantic >= 0.6 else "related" if ch.semantic >= 0.4 else "distant"
        parts.append(f"meaning {closeness} (cosine {ch.semantic:.2f})")
    return "; ".join(parts) or "no words in common"
