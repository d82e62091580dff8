"""Issue 16: a learned combination of the fusion signals, fitted on the TRAIN part of
ObliQA dev only and compared with the linear `fusion` on the held-out part.

    reagent eval retrieval --obliqa ../shared/data/obliqa --modes bm25 --signals-out signals.jsonl
    .cache/tune-venv/bin/python tune/fit_fusion.py signals.jsonl

Logistic regression (pointwise: relevant candidate or not) over the four signals as
`fusion` normalises them, then over those plus raw cosine, rank features and products;
C is chosen on TRAIN's MAP@10. Metrics follow eval/: passages deduplicated at their best
rank, top 10, MAP@10 as trec_eval's map_cut_10. The linear rows reproduce
`reagent eval retrieval`'s `fusion` figures, which checks the reading of the signals."""
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression

W = dict(dense=0.7, bm25=0.25, pairs=0.15, coverage=0.4)

def min_max(x):
    lo, hi = x.min(), x.max()
    if hi - lo > np.finfo(np.float32).eps:
        return (x - lo) / (hi - lo)
    return np.ones_like(x) if hi > 0 else np.zeros_like(x)

def features(c, extended):
    raw = np.array([[v[1], v[2], v[3], v[4]] for v in c], dtype=np.float64)
    nd, nb, np_, cov = min_max(raw[:, 0]), min_max(raw[:, 1]), min_max(raw[:, 2]), raw[:, 3]
    cols = [nd, nb, np_, cov]
    if extended:
        rank_d = np.argsort(np.argsort(-raw[:, 0], kind="stable"), kind="stable")
        rank_b = np.argsort(np.argsort(-raw[:, 1], kind="stable"), kind="stable")
        cols += [raw[:, 0], 1.0 / (60 + rank_d), np.where(raw[:, 1] > 0, 1.0 / (60 + rank_b), 0.0),
                 (raw[:, 1] > 0).astype(float), nd * nb, nd * cov, nb * cov, cov ** 2]
    return np.stack(cols, axis=1)

def metrics(queries, score_fn):
    r10 = map10 = 0.0
    for q in queries:
        c = q["candidates"]
        if not c or not q["relevant"]:
            continue
        s = score_fn(q)
        order = sorted(range(len(c)), key=lambda i: -s[i])  # stable: ties keep first-seen order
        seen, top = set(), []
        for i in order:
            p = c[i][0]
            if p not in seen:
                seen.add(p); top.append(p)
            if len(top) == 10:
                break
        rel = set(q["relevant"])
        hits, ap = 0, 0.0
        for k, p in enumerate(top, 1):
            if p in rel:
                hits += 1; ap += hits / k
        r10 += hits / len(rel); map10 += ap / len(rel)
    n = sum(1 for q in queries if q["relevant"])
    return r10 / n, map10 / n

def linear(q):
    f = features(q["candidates"], False).astype(np.float32)
    return f @ np.array([W["dense"], W["bm25"], W["pairs"], W["coverage"]], dtype=np.float32)

qs = [json.loads(l) for l in open(sys.argv[1])]
train = [q for q in qs if not q["heldout"]]
held = [q for q in qs if q["heldout"]]
print(f"questions: {len(train)} train, {len(held)} held out")
for name, ext in [("learned-4", False), ("learned-ext", True)]:
    X = np.concatenate([features(q["candidates"], ext) for q in train if q["candidates"]])
    y = np.concatenate([[1 if c[0] in set(q["relevant"]) else 0 for c in q["candidates"]] for q in train if q["candidates"]])
    best = None
    for C in [0.01, 0.1, 1.0, 10.0]:
        m = LogisticRegression(C=C, max_iter=2000).fit(X, y)
        tr = metrics(train, lambda q: features(q["candidates"], ext) @ m.coef_[0])
        if best is None or tr[1] > best[0][1]:
            best = (tr, C, m)
    tr, C, m = best
    ho = metrics(held, lambda q: features(q["candidates"], ext) @ m.coef_[0])
    print(f"{name:12} C={C:<5} train R@10 {tr[0]:.4f} MAP@10 {tr[1]:.4f} | held-out R@10 {ho[0]:.4f} MAP@10 {ho[1]:.4f} | coef {np.round(m.coef_[0], 3).tolist()}")
for part, qq in [("train", train), ("held-out", held)]:
    r, mp = metrics(qq, linear)
    print(f"linear fusion (defaults) {part:9} R@10 {r:.4f} MAP@10 {mp:.4f}")
