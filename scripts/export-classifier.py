"""Exports alt-profanity-check's model into ChatterBox's compact classifier file.

Run through scripts/export-classifier.sh, which pins alt-profanity-check 1.9.1 and the
scikit-learn it needs in a throwaway virtualenv. Writes:

* moderation/model/profanity-check-1.9.1.bin: the TF-IDF vocabulary, its idf weights and the five
  Platt-calibrated linear SVMs (format in moderation/src/classifier/model.rs);
* moderation/tests/data/classifier_parity.jsonl: scores the Python library gives a fixed set of
  strings (accents composed and decomposed, digits, underscores, emoji, ...), which the Rust scorer
  must reproduce (moderation/tests/classifier.rs).

The model's own numbers are the library's (MIT); no third-party text is written.
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np
import sklearn
from profanity_check import profanity_check as pc

MAGIC = b"CBXLIN01"
ROOT = Path(__file__).resolve().parent.parent
MODEL_OUT = ROOT / "moderation" / "model" / "profanity-check-1.9.1.bin"
PARITY_OUT = ROOT / "moderation" / "tests" / "data" / "classifier_parity.jsonl"

# Strings the parity test scores in Rust and compares with the library's answer.
PARITY = [
    "",
    "hello there, how was the weekend?",
    "you are an idiot",
    "YOU ARE AN IDIOT",
    "fuck you",
    "f4ck you",
    "fuuuuck this",
    "what a stupid, stupid idea!!!",
    "shut up you moron",
    "I_love_shit",
    "you_are_an_idiot",
    "idiot_",
    "__idiot__ moron",
    "caf\u00e9 idiot",
    "cafe\u0301 idiot",
    "cre\u0300me bru\u0302le\u0301e, you idiot",
    "na\u00efve na\u0308ive",
    "\u00c9COLE stupide",
    "ΣΊΣΥΦΟΣ idiot",
    "stra\u00dfe STRASSE",
    "İstanbul idiot",
    "idiot 😂😂😂",
    "you 🤡 clown",
    "😡😡 moron😡",
    "I have 2 cats and 10 dogs",
    "h4ter 1337 n00b",
    "a55 hole",
    "123 456 7890",
    "x y z a b c",
    "a",
    "ab",
    "kill yourself",
    "go kill yourself loser",
    "the bitch is a dog",
    "assassin class is fun",
    "Scunthorpe United won",
    "suck my d1ck",
    "you're such a loser lol",
    "you're such a loser lol lol lol lol lol",
    "tab\tseparated\twords idiot",
    "new\nline\nidiot",
    "日本語のテキスト idiot",
    "中文 傻逼",
    "٣٤ arabic digits ٣٤٥",
    "Ⅻ roman numeral Ⅻ",
    "½ half ²squared",
    "ﬁne ligature ﬁ",
    "ｆｕｃｋ fullwidth",
    "𝐟𝐮𝐜𝐤 bold",
    "don't can't won't",
    "dumb-ass idea",
    "dumbass idea",
    "piece of shit",
    "go to hell",
    "thank you so much, you are the best",
    "this is a perfectly normal sentence about the weather and the train schedule",
]


def main() -> int:
    vec = pc.vectorizer
    model = pc.model
    vocab = vec.vocabulary_
    idf = vec.idf_
    n_terms = len(vocab)
    terms = [None] * n_terms
    for term, index in vocab.items():
        terms[index] = term
    assert all(t is not None for t in terms)
    assert vec.token_pattern == r"(?u)\b\w\w+\b" and vec.lowercase and vec.norm == "l2"
    assert vec.ngram_range == (1, 1) and not vec.sublinear_tf and vec.use_idf
    assert vec.strip_accents is None and vec.preprocessor is None and vec.tokenizer is None
    assert list(model.classes_) == [0, 1]

    members = []
    for cc in model.calibrated_classifiers_:
        svm = cc.estimator
        (cal,) = cc.calibrators
        assert svm.coef_.shape == (1, n_terms)
        members.append((svm.coef_[0], float(svm.intercept_[0]), float(cal.a_), float(cal.b_)))

    out = bytearray(MAGIC)
    out += struct.pack("<II", n_terms, len(members))
    for _, intercept, a, b in members:
        out += struct.pack("<ddd", intercept, a, b)
    for index, term in enumerate(terms):
        encoded = term.encode("utf-8")
        out += struct.pack("<H", len(encoded)) + encoded
        out += struct.pack("<f", float(idf[index]))
        out += struct.pack(f"<{len(members)}f", *(float(m[0][index]) for m in members))
    MODEL_OUT.parent.mkdir(parents=True, exist_ok=True)
    MODEL_OUT.write_bytes(bytes(out))

    scores = pc.predict_prob(PARITY)
    with PARITY_OUT.open("w", encoding="utf-8") as f:
        for text, score in zip(PARITY, scores):
            f.write(json.dumps({"text": text, "score": float(score)}, ensure_ascii=True) + "\n")

    print(
        f"wrote {MODEL_OUT.relative_to(ROOT)} ({len(out)} bytes, {n_terms} terms, "
        f"{len(members)} calibrated SVMs; scikit-learn {sklearn.__version__}, numpy {np.__version__})"
    )
    print(f"wrote {PARITY_OUT.relative_to(ROOT)} ({len(PARITY)} strings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
