"""Unit tests of the tuning tool's data side (no torch needed beyond numpy):
    $REAGENT_CACHE/tune-venv/bin/python -m unittest discover -s tune
"""

import json
import os
import tempfile
import unittest
from pathlib import Path

import tune

OBLIQA = Path(os.environ.get("REAGENT_SHARED_DATA")
              or Path(__file__).resolve().parent.parent.parent / "shared" / "data") / "obliqa"


class Split(unittest.TestCase):
    def test_same_buckets_as_the_eval_crate(self):
        # the vectors of eval/src/split.rs; "q1" reads 31 little-endian
        for qid, bucket in [("q1", 6), ("question-7", 73),
                            ("4456cb1a-6a36-42fb-8484-b832e50a71a2", 76),
                            ("c95b457d-f361-4f76-80e0-9f9845891b9a", 2)]:
            self.assertEqual(tune.is_heldout(qid), bucket < 25, qid)

    def test_parts_of_a_question_file(self):
        qs = [{"QuestionID": f"question-{i}", "Question": f"q{i}",
               "Passages": [{"DocumentID": 1, "PassageID": str(i)}]} for i in range(400)]
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "q.json"
            p.write_text(json.dumps(qs))
            held = tune.obliqa_examples(p, "heldout")
            train = tune.obliqa_examples(p, "train")
        self.assertEqual(len(held) + len(train), 400)
        self.assertFalse({q for q, _ in held} & {q for q, _ in train})
        self.assertTrue(0.18 < len(held) / 400 < 0.32)
        self.assertEqual(train[0][1], [f"1:{train[0][0][1:]}"])

    @unittest.skipUnless((OBLIQA / "ObliQA_dev.json").is_file(), "skipped: ../shared/data/obliqa absent")
    def test_real_dev_has_685_heldout(self):
        self.assertEqual(len(tune.obliqa_examples(OBLIQA / "ObliQA_dev.json", "heldout")), 685)


class Bm25(unittest.TestCase):
    def test_ranks_the_matching_passage_first_and_skips_non_matches(self):
        ids = ["a", "b", "c"]
        texts = ["cash transaction reports over ten thousand dollars",
                 "wire transfers and the travel rule",
                 "customer due diligence for high risk customers"]
        bm = tune.Bm25(ids, texts)
        self.assertEqual(bm.top("travel rule for wire transfers", 3), ["b"])
        self.assertEqual(bm.top("due diligence customers", 2)[0], "c")


class Pairs(unittest.TestCase):
    def test_feedback_lines(self):
        lines = [
            {"query": "q", "positive": "good text", "negatives": ["bad text"], "source": "feedback"},
            {"query": "q", "positive": None, "negatives": ["worse text"], "source": "feedback"},
            {"query": "lonely", "positive": None, "negatives": ["x"], "source": "feedback"},
        ]
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "pairs.jsonl"
            p.write_text("\n".join(json.dumps(l) for l in lines) + "\n")
            passages = {}
            examples, negs = tune.pair_examples(p, passages)
        self.assertEqual(len(examples), 1)
        q, ids = examples[0]
        self.assertEqual((q, [passages[i] for i in ids]), ("q", ["good text"]))
        self.assertEqual(negs["q"], ["bad text", "worse text"])


if __name__ == "__main__":
    unittest.main()
