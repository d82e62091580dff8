"""reagent's embedding tuning tool.

Fine-tunes a sentence-transformers model (the stock all-MiniLM-L6-v2 by default) with
MultipleNegativesRankingLoss on (question, gold passage, BM25-mined hard negative)
triplets, exports it to ONNX with the stock model's input/output names, quantizes it
to int8 with integer arithmetic, and checks the int8 vectors against the trained model.

Subcommands (see scripts/tune-model.sh for the recipe):
  split     write the held-out and train parts of ObliQA dev (shared split definition)
  train     fine-tune and save a sentence-transformers folder
  export    ONNX export + int8 quantization + agreement check of a model folder
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
import time
from pathlib import Path

HELDOUT_PERCENT = 25


# ---------------------------------------------------------------- data


def is_heldout(question_id: str) -> bool:
    """The shared split: first 8 bytes of sha256(id), big-endian, mod 100 < 25."""
    digest = hashlib.sha256(question_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HELDOUT_PERCENT


def load_passages(obliqa: Path) -> dict[str, str]:
    """Non-empty passages by "{DocumentID}:{PassageID}" (first of a repeated id wins)."""
    passages: dict[str, str] = {}
    for path in sorted((obliqa / "documents").glob("*.json")):
        for p in json.loads(path.read_text(encoding="utf-8")):
            text = (p.get("Passage") or "").strip()
            key = f"{p['DocumentID']}:{p['PassageID']}"
            if text and key not in passages:
                passages[key] = text
    return passages


def obliqa_examples(path: Path, part: str | None) -> list[tuple[str, list[str]]]:
    """(question, gold passage ids) of an ObliQA-layout file; part: "train", "heldout" or None (all)."""
    out = []
    for q in json.loads(path.read_text(encoding="utf-8")):
        if part is not None and is_heldout(str(q["QuestionID"])) != (part == "heldout"):
            continue
        gold = [f"{p['DocumentID']}:{p['PassageID']}" for p in q["Passages"]]
        out.append((q["Question"], gold))
    return out


def jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def generic_examples(corpus: Path, queries: Path, qrels: Path, passages: dict[str, str]):
    """The eval harness's generic JSONL layout; its passages join the pool under "g:<id>"."""
    for row in jsonl(corpus):
        text = row["text"] if not row.get("title") else f"{row['title']}\n{row['text']}"
        passages[f"g:{row['id']}"] = text
    texts = {str(r["id"]): r["text"] for r in jsonl(queries)}
    gold: dict[str, list[str]] = {}
    for r in jsonl(qrels):
        if r.get("relevance", 1) > 0:
            gold.setdefault(str(r["query_id"]), []).append(f"g:{r['doc_id']}")
    return [(texts[q], ids) for q, ids in gold.items() if q in texts]


def pair_examples(path: Path, passages: dict[str, str]):
    """Feedback pairs (split.md format): positives become examples, judged negatives
    become their hard negatives; lines with only negatives attach to a positive of the
    same query when there is one, else are skipped."""
    rows = list(jsonl(path))
    pos_by_query: dict[str, list[str]] = {}
    negs_by_query: dict[str, list[str]] = {}
    for r in rows:
        if r.get("positive"):
            key = "f:" + hashlib.sha256(r["positive"].encode()).hexdigest()[:16]
            passages[key] = r["positive"]
            pos_by_query.setdefault(r["query"], []).append(key)
        negs_by_query.setdefault(r["query"], []).extend(r.get("negatives") or [])
    return [(q, ids) for q, ids in pos_by_query.items()], negs_by_query


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- BM25 mining

_STOP = set(
    "a an and are as at be by for from has have in is it its of on or that the this to was were "
    "will with which what when who whom how any all must should may can under their there these "
    "those such into than other shall if not no do does".split()
)


def terms(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in _STOP]


class Bm25:
    def __init__(self, ids: list[str], texts: list[str], k1: float = 1.2, b: float = 0.75):
        import numpy as np

        self.ids = ids
        self.np = np
        postings: dict[str, dict[int, int]] = {}
        lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            ts = terms(text)
            lengths[i] = len(ts)
            for t in ts:
                d = postings.setdefault(t, {})
                d[i] = d.get(i, 0) + 1
        avg = float(lengths.mean()) or 1.0
        n = len(texts)
        self.index = {}
        for t, d in postings.items():
            docs = np.fromiter(d.keys(), dtype=np.int64)
            tf = np.fromiter(d.values(), dtype=np.float32)
            idf = math.log(1 + (n - len(d) + 0.5) / (len(d) + 0.5))
            w = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[docs] / avg))
            self.index[t] = (docs, w.astype(np.float32))
        self.n = n

    def top(self, query: str, k: int) -> list[str]:
        np = self.np
        scores = np.zeros(self.n, dtype=np.float32)
        for t in set(terms(query)):
            if t in self.index:
                docs, w = self.index[t]
                scores[docs] += w
        k = min(k, self.n)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [self.ids[i] for i in best if scores[i] > 0]


# ---------------------------------------------------------------- train


def cmd_split(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = json.loads((Path(args.obliqa) / "ObliQA_dev.json").read_text(encoding="utf-8"))
    held = [q for q in dev if is_heldout(str(q["QuestionID"]))]
    train = [q for q in dev if not is_heldout(str(q["QuestionID"]))]
    (out / "dev_heldout.json").write_text(json.dumps(held), encoding="utf-8")
    (out / "dev_train.json").write_text(json.dumps(train), encoding="utf-8")
    print(f"split: {len(held)} held-out, {len(train)} train questions in {out}")


def cmd_train(args):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    obliqa = Path(args.obliqa)
    passages = load_passages(obliqa)
    pool_ids = list(passages)  # mining pool: the ObliQA corpus only
    sources: list[Path] = []
    examples: list[tuple[str, list[str]]] = []
    dev = obliqa / "ObliQA_dev.json"
    examples += obliqa_examples(dev, "train")
    sources.append(dev)
    for f in args.questions:
        examples += obliqa_examples(Path(f), None)
        sources.append(Path(f))
    if args.generic:
        c, q, r = (Path(x) for x in args.generic)
        examples += generic_examples(c, q, r, passages)
        sources += [c, q, r]
    feedback_negs: dict[str, list[str]] = {}
    for f in args.pairs:
        ex, negs = pair_examples(Path(f), passages)
        examples += ex
        for k, v in negs.items():
            feedback_negs.setdefault(k, []).extend(v)
        sources.append(Path(f))

    print(f"data: {len(examples)} questions, {len(passages)} passages", flush=True)
    t0 = time.time()
    bm25 = Bm25(pool_ids, [passages[i] for i in pool_ids])
    rng = random.Random(args.seed)
    triplets = []
    for question, gold in examples:
        gold = [g for g in gold if g in passages]
        if not gold:
            continue
        negs: list[str] = []
        if args.hard_negatives > 0:
            golds = set(gold)
            # skip the very top non-gold hits: the likeliest unlabelled positives
            cands = [i for i in bm25.top(question, args.mine_depth + len(gold)) if i not in golds]
            cands = cands[args.mine_skip : args.mine_depth]
            negs = [passages[i] for i in rng.sample(cands, min(args.hard_negatives, len(cands)))]
        extra = feedback_negs.get(question, [])
        for g in gold:
            n = (extra + negs)[: max(args.hard_negatives, 0)] if args.hard_negatives else []
            triplets.append((question, g, n))
    print(f"mined in {time.time() - t0:.0f}s: {len(triplets)} training pairs", flush=True)

    model = SentenceTransformer(args.base, device="cpu")
    model.max_seq_length = args.max_seq_length
    loss_fn = MultipleNegativesRankingLoss(model, scale=args.scale)
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    if args.freeze_embeddings:
        for n, p in model.named_parameters():
            if "embeddings." in n:
                p.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)

    def batches():
        """Shuffled batches with no gold passage twice in a batch (in-batch negatives
        must not contain a positive of another question)."""
        order = triplets[:]
        rng.shuffle(order)
        pending = order
        while pending:
            batch, seen, rest = [], set(), []
            for t in pending:
                if len(batch) < args.batch_size and t[1] not in seen and t[0] not in seen:
                    batch.append(t)
                    seen.update((t[1], t[0]))
                else:
                    rest.append(t)
            yield batch
            pending = rest

    steps_per_epoch = math.ceil(len(triplets) / args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = max(1, int(total * 0.1))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    model.train()
    step, t0 = 0, time.time()
    for epoch in range(args.epochs):
        for batch in batches():
            q = model.tokenize([t[0] for t in batch])
            p = model.tokenize([passages[t[1]] for t in batch])
            feats = [q, p]
            n_neg = min(len(t[2]) for t in batch) if args.hard_negatives else 0
            for j in range(n_neg):
                feats.append(model.tokenize([t[2][j] for t in batch]))
            loss = loss_fn(feats, None)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 10 == 0 or step == 1:
                el = time.time() - t0
                print(
                    f"epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f} "
                    f"{el:.0f}s elapsed, ~{el / step * (total - step):.0f}s left",
                    flush=True,
                )
            if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
                print(f"stopping at step {step}: --max-minutes {args.max_minutes} reached", flush=True)
                break
        else:
            continue
        break
    train_secs = time.time() - t0
    out = Path(args.out)
    model.save(str(out))
    meta = {
        "seed": args.seed,
        "base": str(args.base),
        "epochs": args.epochs,
        "steps": step,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "scale": args.scale,
        "max_seq_length": args.max_seq_length,
        "hard_negatives": args.hard_negatives,
        "mine_skip": args.mine_skip,
        "mine_depth": args.mine_depth,
        "freeze_embeddings": args.freeze_embeddings,
        "threads": args.threads,
        "questions": len(examples),
        "pairs": len(triplets),
        "train_seconds": round(train_secs),
        "data": {str(s): sha256_file(s) for s in sources},
        "documents_sha256": hashlib.sha256(
            b"".join(sha256_file(p).encode() for p in sorted((obliqa / "documents").glob("*.json")))
        ).hexdigest(),
        "torch": torch.__version__,
    }
    (out / "tune_meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    print(f"trained in {train_secs:.0f}s; saved {out}", flush=True)


# ---------------------------------------------------------------- export


def cmd_export(args):
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    st = SentenceTransformer(args.model, device="cpu")
    hf = st[0].auto_model.eval()
    tok = st.tokenizer

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    enc = tok(["a sample sentence", "another one"], padding=True, return_tensors="pt")
    fp32 = out / "model_fp32.onnx"
    dyn = {0: "batch", 1: "sequence"}  # the stock model.onnx's axis names
    torch.onnx.export(
        Wrapper(hf),
        (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": dyn,
            "attention_mask": dyn,
            "token_type_ids": dyn,
            "last_hidden_state": dyn,
        },
        opset_version=17,
        do_constant_folding=True,
    )
    onnx.checker.check_model(str(fp32))
    int8 = out / "model.onnx"
    # MatMul weights become int8 and run as MatMulInteger on dynamically quantized
    # activations; LayerNorm, softmax and GELU stay float. The embedding tables (Gather)
    # are int8 too unless --float-embeddings (that keeps them float at 4x their size).
    ops = ["MatMul"] if args.float_embeddings else ["MatMul", "Gather"]
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=args.per_channel,
        op_types_to_quantize=ops,
    )

    # agreement: int8 ONNX (mean pooled, normalised like fastembed) vs the trained model
    texts = sample_texts(args)
    ref = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(int8), so, providers=["CPUExecutionProvider"])
    got = []
    for i in range(0, len(texts), 32):
        e = tok(texts[i : i + 32], padding=True, truncation=True, max_length=256, return_tensors="np")
        feeds = {k: e[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = sess.run(["last_hidden_state"], feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        v = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        got.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    got = np.concatenate(got)
    cos = (got * ref).sum(1)
    report = {
        "samples": len(texts),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "threshold_mean": args.min_mean_cosine,
        "threshold_min": args.min_cosine,
        "size_bytes": int8.stat().st_size,
        "sha256": sha256_file(int8),
        "per_channel": args.per_channel,
        "float_embeddings": args.float_embeddings,
    }
    (out / "export_check.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if not args.keep_fp32:
        fp32.unlink()
    print(json.dumps(report, indent=2))
    if report["mean_cosine"] < args.min_mean_cosine or report["min_cosine"] < args.min_cosine:
        print("export: int8 model disagrees with the trained model beyond the threshold", file=sys.stderr)
        sys.exit(2)


def sample_texts(args) -> list[str]:
    rng = random.Random(args.seed)
    texts: list[str] = []
    if args.obliqa:
        obliqa = Path(args.obliqa)
        ps = list(load_passages(obliqa).values())
        qs = [q["Question"] for q in json.loads((obliqa / "ObliQA_dev.json").read_text(encoding="utf-8"))]
        texts = rng.sample(ps, min(args.samples // 2, len(ps))) + rng.sample(qs, min(args.samples // 2, len(qs)))
    return texts or ["a sample sentence for the agreement check"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tune", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("split", help="write dev_heldout.json and dev_train.json")
    s.add_argument("--obliqa", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_split)

    t = sub.add_parser("train", help="fine-tune with MultipleNegativesRankingLoss")
    t.add_argument("--obliqa", required=True, help="ObliQA folder: documents/ and ObliQA_dev.json (TRAIN part used)")
    t.add_argument("--questions", action="append", default=[], help="more ObliQA-layout question files (all used)")
    t.add_argument("--generic", nargs=3, metavar=("CORPUS", "QUERIES", "QRELS"), help="generic JSONL layout")
    t.add_argument("--pairs", action="append", default=[], help="feedback pairs (JSON lines)")
    t.add_argument("--base", required=True, help="sentence-transformers folder to start from")
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=3e-5)
    t.add_argument("--scale", type=float, default=20.0)
    t.add_argument("--max-seq-length", type=int, default=256)
    t.add_argument("--hard-negatives", type=int, default=1)
    t.add_argument("--mine-skip", type=int, default=2, help="non-gold BM25 hits skipped before sampling")
    t.add_argument("--mine-depth", type=int, default=30, help="sample negatives from non-gold hits [skip, depth)")
    t.add_argument("--freeze-embeddings", action="store_true")
    t.add_argument("--max-minutes", type=float, default=0, help="stop early after this long (0: no limit)")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--threads", type=int, default=2)
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("export", help="ONNX export, int8 quantization, agreement check")
    e.add_argument("--model", required=True, help="sentence-transformers folder")
    e.add_argument("--out", required=True)
    e.add_argument("--obliqa", help="texts for the agreement check")
    e.add_argument("--samples", type=int, default=400)
    e.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True)
    e.add_argument("--float-embeddings", action=argparse.BooleanOptionalAction, default=False)
    e.add_argument("--min-mean-cosine", type=float, default=0.98)
    e.add_argument("--min-cosine", type=float, default=0.85)
    e.add_argument("--keep-fp32", action="store_true")
    e.add_argument("--seed", type=int, default=42)
    e.add_argument("--threads", type=int, default=2)
    e.set_defaults(fn=cmd_export)

    args = ap.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
