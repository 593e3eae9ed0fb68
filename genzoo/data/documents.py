"""``documents``: bag-of-words count vectors from your own text or a count matrix.

``--data-dir`` names one of:

* a folder of UTF-8 ``.txt`` files, one document per file (searched recursively). Text
  is lower-cased and cut into words of letters only, at least two long; English stop
  words (scikit-learn's ``ENGLISH_STOP_WORDS``) are removed.
* a bag-of-words matrix: an ``.npz`` file holding ``counts`` (a dense (D, W) array, or
  a scipy sparse matrix saved with ``scipy.sparse.save_npz``) and optionally ``vocab``
  (W strings); or the UCI "bag of words" format: ``docword.NAME.txt`` (header lines D,
  W, NNZ, then one ``doc word count`` line per non-zero entry, 1-based) beside
  ``vocab.NAME.txt`` (one word per line), either file optionally gzipped. A folder
  holding exactly one such matrix is read as that matrix.

The vocabulary is the ``vocab_size`` words with the largest total count among those
occurring in at least ``min_df`` documents (ties: the word first seen / first column
first), ordered most frequent first. Each document becomes an int64 count vector over
it; documents left with fewer than ``min_words`` words are dropped. Examples are dense,
so memory is D x V x 8 bytes.

:func:`synthetic_topics` draws a corpus from the LDA generative process with known
topics, for tests and demos, and can write it as a folder of ``.txt`` files.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError

_WORD = re.compile(r"[^\W\d_]{2,}")  # runs of two or more letters (any script)


@dataclass
class DocumentsOptions:
    """Options of the ``documents`` dataset.

    Args:
        vocab_size: keep this many most frequent words (0: every word passing ``min_df``).
        min_df: a word must occur in at least this many documents.
        min_words: drop documents with fewer words (counted within the vocabulary).
        test_fraction: share of the documents held out as the test split.
        seed: seeds the train/test split.
    """

    vocab_size: int = 2000
    min_df: int = 2
    min_words: int = 1
    test_fraction: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        positive(self.vocab_size, "vocab_size", allow_zero=True)
        positive(self.min_df, "min_df")
        positive(self.min_words, "min_words", allow_zero=True)
        if not 0.0 <= self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in [0, 1)")


# ---- reading -------------------------------------------------------------------------
def tokenize(text: str) -> list[str]:
    """Lower-cased words of two or more letters, English stop words removed."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]


def _read_text_folder(root: Path):
    """Sparse (D, W) counts, the W words in first-seen order, and the file names."""
    import scipy.sparse as sp

    files = sorted(p for p in root.rglob("*.txt") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GenzooError(f"no .txt documents in {root}; pass --data-dir naming a folder of UTF-8 "
                          ".txt files (one document each), an .npz or a UCI docword file")
    index: dict[str, int] = {}
    rows, cols = [], []
    for d, p in enumerate(files):
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise DataFileError(f"cannot read {p}: {e.strerror or e}") from None
        for w in tokenize(text):
            rows.append(d)
            cols.append(index.setdefault(w, len(index)))
    data = np.ones(len(rows), dtype=np.int64)
    counts = sp.csr_matrix((data, (rows, cols)), shape=(len(files), len(index)), dtype=np.int64)
    counts.sum_duplicates()
    return counts, list(index), [str(p.relative_to(root)) for p in files]


def _open_text(p: Path) -> str:
    raw = p.read_bytes()
    if p.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataFileError(f"{p} is not a valid gzip file ({e})") from None
    return raw.decode("utf-8", errors="replace")


def _read_docword(p: Path):
    """UCI bag-of-words: sparse (D, W) counts and the words from the vocab.NAME.txt beside it."""
    import scipy.sparse as sp

    nums = _open_text(p).split()
    try:
        a = np.array(nums, dtype=np.int64)
    except ValueError:
        raise DataFileError(f"{p} is not a UCI docword file: it holds non-integer values") from None
    if len(a) < 3 or (len(a) - 3) % 3:
        raise DataFileError(f"{p} is not a UCI docword file: expected header lines D, W, NNZ, "
                            "then 'doc word count' lines")
    D, W, nnz = (int(v) for v in a[:3])
    trip = a[3:].reshape(-1, 3)
    if len(trip) != nnz:
        raise DataFileError(f"{p} is truncated or corrupt: header says {nnz} entries, found {len(trip)}")
    doc, word, cnt = trip[:, 0] - 1, trip[:, 1] - 1, trip[:, 2]
    if len(trip) and (doc.min() < 0 or doc.max() >= D or word.min() < 0 or word.max() >= W or cnt.min() < 0):
        raise DataFileError(f"{p} is corrupt: a doc/word index is outside 1..D / 1..W or a count is negative")
    counts = sp.csr_matrix((cnt, (doc, word)), shape=(D, W), dtype=np.int64)
    name = p.name[len("docword."):]
    vocab_file = p.with_name("vocab." + (name[:-3] if name.endswith(".gz") else name))
    candidates = [vocab_file, vocab_file.with_name(vocab_file.name + ".gz")]
    words = None
    for v in candidates:
        if v.is_file():
            words = _open_text(v).split()
            if len(words) != W:
                raise DataFileError(f"{v} has {len(words)} words but {p} says W = {W}")
            break
    return counts, words if words is not None else [f"w{i}" for i in range(W)]


def _read_npz(p: Path):
    """An .npz with dense ``counts`` (+ ``vocab``), or a scipy sparse matrix from save_npz."""
    import zipfile

    import scipy.sparse as sp

    try:
        with np.load(p, allow_pickle=False) as z:
            keys = set(z.files)
            if "counts" in keys:
                counts = z["counts"]
                words = [str(w) for w in z["vocab"]] if "vocab" in keys else None
            elif {"format", "shape"} <= keys:
                counts, words = sp.load_npz(p), None
            else:
                raise DataFileError(f"{p} holds neither a 'counts' array nor a scipy sparse matrix "
                                    f"(keys: {', '.join(sorted(keys)) or 'none'})")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataFileError(f"cannot read {p} as .npz: {e}") from None
    if counts.ndim != 2:
        raise DataFileError(f"{p}: counts must be a 2-D (documents, words) matrix, got shape {counts.shape}")
    counts = sp.csr_matrix(counts)
    if counts.dtype.kind == "f" and counts.nnz and not np.all(counts.data == np.round(counts.data)):
        raise DataFileError(f"{p}: counts must be whole numbers")
    counts = counts.astype(np.int64)
    if counts.nnz and counts.data.min() < 0:
        raise DataFileError(f"{p}: counts must be non-negative")
    if words is not None and len(words) != counts.shape[1]:
        raise DataFileError(f"{p}: vocab has {len(words)} words but counts has {counts.shape[1]} columns")
    return counts, words if words is not None else [f"w{i}" for i in range(counts.shape[1])]


def _matrix_in(root: Path) -> Path | None:
    """The bag-of-words matrix file ``root`` names or holds at its top level, if any."""
    if root.is_file():
        return root
    found = sorted(p for p in root.iterdir() if p.is_file() and (
        p.name.startswith("docword.") and p.name.endswith((".txt", ".txt.gz")) or p.suffix == ".npz"))
    if len(found) > 1:
        raise GenzooError(f"{root} holds several bag-of-words files ({', '.join(p.name for p in found)}); "
                          "pass --data-dir naming one of them")
    return found[0] if found else None


def _select_vocabulary(counts, words: list[str], opts: DocumentsOptions):
    """Columns kept: df >= min_df, the vocab_size largest totals, most frequent first."""
    df = np.asarray((counts > 0).sum(0)).ravel()
    total = np.asarray(counts.sum(0)).ravel()
    ok = np.flatnonzero(df >= opts.min_df)
    order = ok[np.lexsort((ok, -total[ok]))]  # total descending, then column index
    if opts.vocab_size:
        order = order[: opts.vocab_size]
    return order, [words[i] for i in order]


# ---- the dataset ---------------------------------------------------------------------
@register_dataset("documents", DocumentsOptions,
                  "bag-of-words count vectors (needs --data-dir): a folder of .txt files, an .npz or "
                  "a UCI docword file; options vocab_size, min_df, min_words, test_fraction, seed")
def load_documents(root: Path | None, opts: DocumentsOptions, *, download: bool = True) -> Dataset:
    if root is None:
        raise GenzooError("dataset 'documents' needs text: pass --data-dir naming a folder of .txt files, "
                          "an .npz or a UCI docword.NAME.txt file")
    if not root.exists():
        raise DataFileError(f"{root} does not exist; pass --data-dir naming a folder of .txt files, "
                            "an .npz or a UCI docword.NAME.txt file")
    matrix = _matrix_in(root)
    names: list[str] | None = None
    if matrix is None:
        counts, words, names = _read_text_folder(root)
        source = "text"
    elif matrix.suffix == ".npz":
        counts, words = _read_npz(matrix)
        source = "npz"
    elif matrix.name.startswith("docword."):
        counts, words = _read_docword(matrix)
        source = "docword"
    else:
        raise GenzooError(f"{matrix} is neither an .npz nor a UCI docword.NAME.txt file; pass a folder "
                          "of .txt files, an .npz or a docword file")
    cols, vocab = _select_vocabulary(counts, words, opts)
    if not vocab:
        raise GenzooError(f"no word of {root} occurs in at least min_df={opts.min_df} documents "
                          f"({counts.shape[0]} documents, {len(words)} distinct words); lower data.min_df")
    x = np.asarray(counts[:, cols].todense(), dtype=np.int64)  # (D, V)
    keep = np.flatnonzero(x.sum(1) >= opts.min_words)  # (D',) documents kept
    if len(keep) == 0:
        raise GenzooError(f"no document of {root} has at least min_words={opts.min_words} words "
                          "in the vocabulary; lower data.min_words or data.min_df")
    x_all = torch.from_numpy(x[keep])
    n = len(keep)
    perm = torch.from_numpy(np.random.default_rng(opts.seed).permutation(n))
    n_test = int(round(opts.test_fraction * n))
    if opts.test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    tr, te = perm[: n - n_test], perm[n - n_test:]
    lengths = x_all.sum(1).double()
    spec = DataSpec(name="documents", kind="vector", shape=(len(vocab),), value_type="count",
                    vocabulary=tuple(vocab))
    info = {"root": str(root), "source": source, "documents": n, "dropped": int(len(x) - n),
            "vocab_size": len(vocab), "mean_words": float(lengths.mean())}
    if names is not None:
        info["files"] = [names[i] for i in keep[:20]]
    return Dataset(spec=spec, train=Split(x_all[tr].clone()), test=Split(x_all[te].clone()), info=info)


# ---- a corpus with known topics --------------------------------------------------------
@dataclass
class SyntheticCorpus:
    """Documents drawn from known topics.

    Attributes:
        counts: (D, V) int64 word counts.
        topics: (K, V) float64 topic-word distributions beta (rows sum to 1).
        theta: (D, K) float64 document-topic proportions.
        words: the V word strings (letters only, so they survive :func:`tokenize`).
    """

    counts: np.ndarray
    topics: np.ndarray
    theta: np.ndarray
    words: list[str]


def synthetic_word(i: int, width: int = 3) -> str:
    """Word ``i`` as ``xq`` + ``width`` base-26 letters (``xqaaa``, ``xqaab``, ...)."""
    letters = []
    for _ in range(width):
        i, r = divmod(i, 26)
        letters.append(chr(ord("a") + r))
    return "xq" + "".join(reversed(letters))


def synthetic_topics(*, topics: int = 5, vocab: int = 100, docs: int = 500, doc_length: int = 80,
                     alpha: float = 0.1, eta: float = 0.05, seed: int = 0,
                     folder: str | Path | None = None) -> SyntheticCorpus:
    """Draw a corpus from the LDA generative process (Blei, Ng & Jordan 2003).

    beta_k ~ Dir(eta) over ``vocab`` words (small eta: sparse topics); per document
    theta ~ Dir(alpha), N ~ Poisson(doc_length) (at least 1), and per word z ~ Cat(theta),
    w ~ Cat(beta_z). With ``folder`` the documents are also written there as
    ``doc00000.txt`` ... (the words in drawn order, 20 per line), readable by the
    ``documents`` dataset with ``min_df=1``.
    """
    if vocab > 26 ** 3:
        raise GenzooError(f"synthetic_topics: vocab must be at most {26 ** 3}")
    rng = np.random.default_rng(seed)
    beta = rng.dirichlet(np.full(vocab, eta), size=topics)  # (K, V)
    theta = rng.dirichlet(np.full(topics, alpha), size=docs)  # (D, K)
    lengths = np.maximum(rng.poisson(doc_length, size=docs), 1)  # (D,)
    words = [synthetic_word(i) for i in range(vocab)]
    counts = np.zeros((docs, vocab), dtype=np.int64)
    out = Path(folder) if folder is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for d in range(docs):
        z = rng.choice(topics, size=lengths[d], p=theta[d])  # topic of each word
        u = rng.random(lengths[d])[:, None]
        w = (np.cumsum(beta[z], 1) < u).sum(1).clip(max=vocab - 1)  # w ~ Cat(beta_z), inverse CDF
        np.add.at(counts[d], w, 1)
        if out is not None:
            toks = [words[i] for i in w]
            lines = [" ".join(toks[i:i + 20]) for i in range(0, len(toks), 20)]
            (out / f"doc{d:05d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return SyntheticCorpus(counts=counts, topics=beta, theta=theta, words=words)
