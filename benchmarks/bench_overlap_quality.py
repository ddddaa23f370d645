"""How well the overlap check tells duplicate work from near misses and unrelated work, on the
labelled pairs of real issues in `overlap_data/pairs.jsonl` (titles; see its README).

For each channel alone (fuzzy, lexical, semantic), for the shipped combination, and for two
baselines computed in the same run (rapidfuzz `token_set_ratio` on the raw titles, and MiniLM
cosine on the raw titles), it prints ROC AUC, and precision, recall and F1 at the shipped default
threshold (a "strong" match) and at the best threshold for that score. Positives are the
duplicates; near misses and unrelated pairs are negatives.

Lexical scores come from a real LanceDB full-text index over every item of the set: each pair's
later item is the query, and the earlier item's BM25 score is divided by the best score of that
search (0 when it is not among the hits).

    python benchmarks/bench_overlap_quality.py [--grid]

`--grid` also searches the combination's weights and penalty (what the defaults were chosen from).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.overlap.embed import default_embedder  # noqa: E402
from reconciler.overlap.scores import STRONG, WEAK, Channels, Weights, combine, fuzzy  # noqa: E402
from reconciler.overlap.text import document, identifiers, strip_title  # noqa: E402

DATA = Path(__file__).resolve().parent / "overlap_data" / "pairs.jsonl"


@dataclass(frozen=True)
class Pair:
    id: str
    positive: bool
    label: str
    a: str
    b: str
    a_url: str
    b_url: str


def load() -> list[Pair]:
    pairs = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pairs.append(
            Pair(
                row["id"],
                row["label"] == "duplicate",
                row["label"],
                row["a"]["title"],
                row["b"]["title"],
                row["a"]["url"],
                row["b"]["url"],
            )
        )
    return pairs


def lexical_scores(pairs: Sequence[Pair]) -> list[float]:
    import lancedb
    from lancedb.index import FTS

    items: dict[str, str] = {}
    for p in pairs:
        items[p.a_url] = document(p.a)
        items[p.b_url] = document(p.b)
    with tempfile.TemporaryDirectory() as tmp:
        table = lancedb.connect(tmp).create_table("items", data=[{"url": u, "text": t} for u, t in items.items()])
        table.create_index("text", config=FTS())
        out = []
        for p in pairs:
            hits = table.search(document(p.b), query_type="fts").select(["url", "_score"]).limit(50).to_list()
            hits = [h for h in hits if h["url"] != p.b_url]
            best = max((h["_score"] for h in hits), default=0.0)
            mine = next((h["_score"] for h in hits if h["url"] == p.a_url), 0.0)
            out.append(mine / best if best > 0 else 0.0)
        return out


def auc(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def prf(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_], threshold: float) -> tuple[float, float, float]:
    predicted = scores >= threshold
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> tuple[float, float]:
    best = (0.0, 0.0)
    for t in sorted(set(scores.tolist())):
        f1 = prf(scores, labels, t)[2]
        if f1 > best[1]:
            best = (t, f1)
    return best


def report(name: str, scores: Sequence[float], labels: npt.NDArray[np.bool_], default: float | None) -> None:
    s = np.asarray(scores, dtype=np.float64)
    t, _ = best_threshold(s, labels)
    bp, br, bf = prf(s, labels, t)
    shipped = "" if default is None else "{:>5.2f} {:>5.2f} {:>5.2f} {:>5.2f}".format(default, *prf(s, labels, default))
    print(f"{name:<34} {auc(s, labels):>5.3f}   {shipped:<23}   {t:>5.2f} {bp:>5.2f} {br:>5.2f} {bf:>5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="search the combination's weights and penalty")
    args = parser.parse_args()
    pairs = load()
    labels = np.array([p.positive for p in pairs])
    counts = {k: sum(p.label == k for p in pairs) for k in ("duplicate", "near_miss", "unrelated")}
    print(f"{len(pairs)} labelled pairs ({', '.join(f'{v} {k}' for k, v in counts.items())}); positives: duplicates")

    from rapidfuzz import fuzz

    embedder = default_embedder()
    va = embedder.embed([strip_title(p.a) for p in pairs])  # what the index embeds: the title, prefixes stripped
    vb = embedder.embed([strip_title(p.b) for p in pairs])
    semantic = (va * vb).sum(axis=1).astype(np.float64)
    raw_a, raw_b = embedder.embed([p.a for p in pairs]), embedder.embed([p.b for p in pairs])
    raw_cosine = (raw_a * raw_b).sum(axis=1)
    raw_fuzzy = [fuzz.token_set_ratio(p.a, p.b) / 100 for p in pairs]
    fz = [fuzzy(p.a, p.b) for p in pairs]
    lex = lexical_scores(pairs)
    ids = [(identifiers(p.a), identifiers(p.b)) for p in pairs]

    def combined(weights: Weights) -> list[float]:
        return [
            combine(Channels(f, lx, float(sm)), ia, ib, weights)
            for f, lx, sm, (ia, ib) in zip(fz, lex, semantic, ids, strict=True)
        ]

    print(f"\n{'score':<34} {'AUC':>5}   {'at default: t    P     R    F1':<23}   {'best:  t     P     R    F1'}")
    report("baseline: token_set_ratio (raw)", raw_fuzzy, labels, None)
    report("baseline: MiniLM cosine (raw)", raw_cosine, labels, None)
    report("fuzzy alone (prefixes stripped)", fz, labels, None)
    report("lexical alone (LanceDB BM25/best)", lex, labels, None)
    report("semantic alone (MiniLM, stripped)", semantic, labels, None)
    report("combined (shipped weights)", combined(Weights()), labels, STRONG)
    report("combined, weak threshold", combined(Weights()), labels, WEAK)
    related = np.array([p.label != "near_miss" for p in pairs])
    shipped = np.asarray(combined(Weights()))
    print(
        f"\nwithout the near misses (duplicates against unrelated work only): combined AUC "
        f"{auc(shipped[related], labels[related]):.3f}, semantic alone {auc(semantic[related], labels[related]):.3f}, "
        f"token_set_ratio alone {auc(np.asarray(raw_fuzzy)[related], labels[related]):.3f}"
    )
    for name, threshold in (("strong", STRONG), ("weak", WEAK)):
        flagged = {k: int(((shipped >= threshold) & np.array([p.label == k for p in pairs])).sum()) for k in counts}
        print(f"flagged at {name} ({threshold}): " + ", ".join(f"{flagged[k]} of {counts[k]} {k}" for k in counts))
    w = Weights()
    print(
        f"\nshipped: fuzzy {w.fuzzy}, lexical {w.lexical}, semantic {w.semantic}, identifier penalty "
        f"{w.identifier_penalty}; strong >= {STRONG}, weak >= {WEAK}"
    )
    if args.grid:
        rows = []
        for fw in np.arange(0.0, 1.01, 0.1):
            for lw in (0.0, 0.1, 0.2, 0.3):
                sw = 1.0 - fw - lw
                if sw < -1e-9:
                    continue
                for pen in (1.0, 0.8, 0.6):
                    s = np.asarray(combined(Weights(float(fw), lw, float(sw), pen)))
                    rows.append((auc(s, labels), best_threshold(s, labels), fw, lw, sw, pen))
        rows.sort(key=lambda r: -r[0])
        print("\ngrid (best AUC first): AUC, best threshold, F1, fuzzy, lexical, semantic, penalty")
        for a, (t, f1), fw, lw, sw, pen in rows[:10]:
            print(f"  {a:.3f}  t={t:.2f} F1={f1:.2f}  fuzzy={fw:.1f} lexical={lw:.1f} semantic={sw:.1f} penalty={pen}")


if __name__ == "__main__":
    main()
