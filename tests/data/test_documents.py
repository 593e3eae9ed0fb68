"""The documents dataset: text folders, UCI docword files, .npz matrices, errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from genzoo.data.dataset import load_dataset
from genzoo.data.documents import synthetic_topics, synthetic_word, tokenize
from genzoo.errors import GenzooError


def all_rows(d) -> np.ndarray:
    """Train and test documents together, rows sorted (order-free comparison)."""
    x = torch.cat([d.train.x, d.test.x]).numpy()
    return x[np.lexsort(x.T[::-1])]


def as_loaded(counts: np.ndarray, words: list[str], vocab: tuple[str, ...]) -> np.ndarray:
    """``counts`` with columns in the loaded vocabulary's order, rows sorted."""
    col = {w: i for i, w in enumerate(words)}
    x = counts[:, [col[w] for w in vocab]]
    x = x[x.sum(1) > 0]
    return x[np.lexsort(x.T[::-1])]


@pytest.fixture(scope="module")
def corpus():
    return synthetic_topics(topics=3, vocab=40, docs=60, doc_length=30, seed=1)


def test_tokenize_lowercases_keeps_letters_and_drops_stop_words():
    assert tokenize("The Cat's 2 cats, x-ray and naïve Über-cats! a b") == [
        "cat", "cats", "ray", "naïve", "über", "cats"]
    assert synthetic_word(0) == "xqaaa" and synthetic_word(27) == "xqabb"
    assert tokenize(" ".join(synthetic_word(i) for i in range(500))) == [synthetic_word(i) for i in range(500)]


def test_text_folder_round_trips_the_synthetic_counts(tmp_path, corpus):
    synthetic_topics(topics=3, vocab=40, docs=60, doc_length=30, seed=1, folder=tmp_path / "docs")
    assert len(list((tmp_path / "docs").glob("*.txt"))) == 60
    d = load_dataset("documents", root=tmp_path / "docs", min_df=1, vocab_size=0)
    spec = d.spec
    assert spec.kind == "vector" and spec.value_type == "count" and spec.dtype == torch.int64
    assert d.train.x.dtype == torch.int64 and spec.shape == (len(spec.vocabulary),)
    assert len(d.train) == 54 and len(d.test) == 6 and d.info["source"] == "text"
    np.testing.assert_array_equal(all_rows(d), as_loaded(corpus.counts, corpus.words, spec.vocabulary))
    totals = torch.cat([d.train.x, d.test.x]).sum(0)
    assert (totals[:-1] >= totals[1:]).all()  # most frequent word first


def test_vocabulary_min_df_min_words_and_seeded_split(tmp_path):
    docs = tmp_path / "t"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("apple apple banana the and cherry")
    (docs / "b.txt").write_text("Apple banana BANANA durian")
    (docs / "sub" / "c.txt").write_text("banana cherry")
    (docs / "d.txt").write_text("elderberry fig")  # no word in >= 2 documents
    (docs / "notes.md").write_text("banana")  # not a .txt: ignored
    d = load_dataset("documents", root=docs, min_df=2, test_fraction=0.0)
    assert d.spec.vocabulary == ("banana", "apple", "cherry")
    assert len(d.train) == 3 and d.info["dropped"] == 1  # d.txt is empty in this vocabulary
    assert sorted(d.train.x.tolist()) == [[1, 0, 1], [1, 2, 1], [2, 1, 0]]
    d2 = load_dataset("documents", root=docs, min_df=2, vocab_size=1, min_words=2, test_fraction=0.0)
    assert d2.spec.vocabulary == ("banana",) and d2.train.x.tolist() == [[2]]
    s1 = load_dataset("documents", root=docs, min_df=1, seed=1, test_fraction=0.5)
    s2 = load_dataset("documents", root=docs, min_df=1, seed=1, test_fraction=0.5)
    assert torch.equal(s1.train.x, s2.train.x) and len(s1.test) == 2


def _write_docword(folder, counts: np.ndarray, words: list[str], gz: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.nonzero(counts)
    lines = [str(counts.shape[0]), str(counts.shape[1]), str(len(rows))]
    lines += [f"{r + 1} {c + 1} {counts[r, c]}" for r, c in zip(rows, cols)]
    text = ("\n".join(lines) + "\n").encode()
    if gz:
        (folder / "docword.syn.txt.gz").write_bytes(gzip.compress(text))
    else:
        (folder / "docword.syn.txt").write_bytes(text)
    (folder / "vocab.syn.txt").write_text("\n".join(words) + "\n")


@pytest.mark.parametrize("gz", [False, True])
def test_uci_docword(tmp_path, corpus, gz):
    _write_docword(tmp_path / "uci", corpus.counts, corpus.words, gz)
    for root in (tmp_path / "uci", next((tmp_path / "uci").glob("docword.*"))):  # folder or file
        d = load_dataset("documents", root=root, min_df=1, vocab_size=0)
        assert d.info["source"] == "docword" and set(d.spec.vocabulary) <= set(corpus.words)
        np.testing.assert_array_equal(all_rows(d), as_loaded(corpus.counts, corpus.words, d.spec.vocabulary))
    d = load_dataset("documents", root=tmp_path / "uci", min_df=1, vocab_size=10)
    assert d.spec.shape == (10,)


def test_npz_dense_and_sparse(tmp_path, corpus):
    np.savez(tmp_path / "dense.npz", counts=corpus.counts, vocab=np.array(corpus.words))
    d = load_dataset("documents", root=tmp_path / "dense.npz", min_df=1, vocab_size=0)
    assert d.info["source"] == "npz"
    np.testing.assert_array_equal(all_rows(d), as_loaded(corpus.counts, corpus.words, d.spec.vocabulary))
    (tmp_path / "sp").mkdir()
    sp.save_npz(tmp_path / "sp" / "bow.npz", sp.csr_matrix(corpus.counts))
    d = load_dataset("documents", root=tmp_path / "sp", min_df=1, vocab_size=0)  # the folder's one .npz
    names = [f"w{i}" for i in range(corpus.counts.shape[1])]
    assert d.spec.vocabulary[0].startswith("w")
    np.testing.assert_array_equal(all_rows(d), as_loaded(corpus.counts, names, d.spec.vocabulary))


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


def test_errors_are_one_line(tmp_path, corpus):
    with pytest.raises(GenzooError) as e:
        load_dataset("documents")
    assert "--data-dir" in one_line(e)
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=tmp_path / "missing")
    assert "does not exist" in one_line(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=tmp_path / "empty")
    assert "no .txt documents" in one_line(e)
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.txt").write_text("lonely words")
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=tmp_path / "one")  # min_df=2 with one document
    assert "min_df" in one_line(e)
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=tmp_path / "one", min_df=1, min_words=5)
    assert "min_words" in one_line(e)
    bad = tmp_path / "bad"
    _write_docword(bad, corpus.counts, corpus.words)
    text = (bad / "docword.syn.txt").read_text().splitlines()
    (bad / "docword.syn.txt").write_text("\n".join(text[:-5]) + "\n")  # truncated
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=bad)
    assert "truncated" in one_line(e)
    (bad / "vocab.syn.txt").write_text("too few words\n")
    (bad / "docword.syn.txt").write_text("\n".join(text) + "\n")
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=bad)
    assert "W = 40" in one_line(e)
    np.savez(tmp_path / "wrong.npz", other=np.zeros(3))
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=tmp_path / "wrong.npz")
    assert "counts" in one_line(e)
    np.savez(tmp_path / "neg.npz", counts=-np.ones((2, 2), dtype=np.int64))
    with pytest.raises(GenzooError) as e:
        load_dataset("documents", root=tmp_path / "neg.npz")
    assert "non-negative" in one_line(e)
    with pytest.raises(GenzooError, match="test_fraction"):
        load_dataset("documents", root=tmp_path / "one", test_fraction=1.5)
