"""PyTorch and Hugging Face adapters: contents, encoder output, the embedding cache and errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
hf = pytest.importorskip("datasets")

import prunekit.io.adapters as adapters  # noqa: E402
from prunekit.datasets import load_digits, load_rotten_tomatoes  # noqa: E402
from prunekit.errors import ConfigError, InputError, MissingDependencyError  # noqa: E402
from prunekit.io.adapters import embed_texts, from_hf_dataset, from_torch_dataset  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    """Real 8x8 digits as (N, 1, 8, 8) images and labels."""
    d = load_digits()
    return d.X_train[:300].reshape(-1, 1, 8, 8).copy(), d.y_train[:300].copy()


def tensor_dataset(X: np.ndarray, y: np.ndarray):
    return torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))


class Counting(torch.nn.Module):
    """A small seeded encoder that counts the rows it encodes; its dropout must be off in eval."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.Tanh(), torch.nn.Dropout(0.5)
        )
        self.rows = 0

    def forward(self, x):
        self.rows += len(x)
        return self.net(x)


def test_without_encoder_gives_flattened_inputs(digits) -> None:
    X, y = digits
    ex = from_torch_dataset(tensor_dataset(X, y), batch_size=7)
    assert ex.embeddings.dtype == np.float32 and ex.embeddings.shape == (300, 64)
    np.testing.assert_array_equal(ex.embeddings, X.reshape(300, -1))
    np.testing.assert_array_equal(ex.labels, y)
    np.testing.assert_array_equal(ex.ids, np.arange(300))


def test_map_style_dataset_of_arrays_and_ints(digits) -> None:
    X, y = digits
    raw = (X * 16).astype(np.uint8)

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 50

        def __getitem__(self, i):
            return raw[i], int(y[i])

    ex = from_torch_dataset(Items())
    np.testing.assert_array_equal(ex.embeddings, raw[:50].reshape(50, -1).astype(np.float32))
    np.testing.assert_array_equal(ex.labels, y[:50])


def test_module_encoder_matches_manual_and_is_cached(digits, tmp_path) -> None:
    X, y = digits
    enc = Counting()
    enc.train()  # the adapter must use eval mode and then restore this
    ex = from_torch_dataset(tensor_dataset(X, y), enc, batch_size=128, cache_dir=tmp_path)
    assert enc.training and enc.rows == 300
    with torch.no_grad():
        want = enc.eval().net(torch.from_numpy(X)).numpy()
    enc.train()
    assert ex.embeddings.shape == (300, 16) and ex.embeddings.dtype == np.float32
    np.testing.assert_allclose(ex.embeddings, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ex.labels, y)

    again = from_torch_dataset(tensor_dataset(X, y), enc, batch_size=50, cache_dir=tmp_path)
    assert enc.rows == 300  # a cache hit, whatever the batch size
    np.testing.assert_array_equal(again.embeddings, ex.embeddings)
    assert len(list(tmp_path.glob("*.npy"))) == 1


def test_changed_data_or_weights_make_new_entries(digits, tmp_path) -> None:
    X, y = digits
    enc = Counting()
    from_torch_dataset(tensor_dataset(X, y), enc, cache_dir=tmp_path)
    X2 = X.copy()
    X2[0, 0, 0, 0] += 0.5  # one pixel
    changed = from_torch_dataset(tensor_dataset(X2, y), enc, cache_dir=tmp_path)
    assert enc.rows == 600 and len(list(tmp_path.glob("*.npy"))) == 2
    with torch.no_grad():
        want = enc.eval().net(torch.from_numpy(X2[:1]))[0]
    np.testing.assert_allclose(changed.embeddings[0], want, rtol=1e-6, atol=1e-6)
    other = Counting(seed=1)
    from_torch_dataset(tensor_dataset(X, y), other, cache_dir=tmp_path)
    assert other.rows == 300 and len(list(tmp_path.glob("*.npy"))) == 3
    # Labels do not change embeddings, so new labels reuse the entry.
    from_torch_dataset(tensor_dataset(X, (y + 1) % 10), enc, cache_dir=tmp_path)
    assert enc.rows == 600


def test_large_datasets_are_read_twice_not_held(digits, tmp_path, monkeypatch) -> None:
    X, y = digits
    monkeypatch.setattr(adapters, "_KEEP_BYTES", 0)  # pretend the inputs exceed the memory budget
    enc = Counting()
    ex = from_torch_dataset(tensor_dataset(X, y), enc, batch_size=64, cache_dir=tmp_path)
    with torch.no_grad():
        np.testing.assert_allclose(ex.embeddings, enc.eval().net(torch.from_numpy(X)),
                                   rtol=1e-6, atol=1e-6)

    class Shrinking(torch.utils.data.IterableDataset):
        """Yields one item fewer on each read, like a dataset edited between two reads."""

        def __init__(self) -> None:
            self.n = 100

        def __iter__(self):
            self.n -= 1
            return iter([(torch.from_numpy(X[i]), int(y[i])) for i in range(self.n)])

    with pytest.raises(InputError, match="changed between two reads"):
        from_torch_dataset(Shrinking(), enc, batch_size=64, cache_dir=tmp_path)

    class Augmented(torch.utils.data.Dataset):
        """Random noise on every read: same length, different inputs."""

        def __len__(self):
            return 100

        def __getitem__(self, i):
            return torch.from_numpy(X[i]) + torch.rand(1), int(y[i])

    with pytest.raises(InputError, match="no random augmentation"):
        from_torch_dataset(Augmented(), enc, batch_size=64, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1  # only the first, deterministic data set


def test_callable_encoder_needs_an_id(digits, tmp_path) -> None:
    X, y = digits
    calls = []

    def mean_rows(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1).mean(dim=1, keepdim=True)

    with pytest.raises(ConfigError, match="encoder_id"):
        from_torch_dataset(tensor_dataset(X, y), mean_rows, cache_dir=tmp_path)
    ds = tensor_dataset(X, y)
    ex = from_torch_dataset(ds, mean_rows, encoder_id="mean-v1", cache_dir=tmp_path)
    np.testing.assert_allclose(ex.embeddings[:, 0], X.reshape(300, -1).mean(1), rtol=1e-6)
    from_torch_dataset(tensor_dataset(X, y), mean_rows, encoder_id="mean-v1", cache_dir=tmp_path)
    assert sum(calls) == 300


def test_torch_input_errors(digits) -> None:
    X, y = digits
    unlabelled = [torch.from_numpy(x) for x in X[:5]]
    with pytest.raises(InputError, match="label_index=None"):
        from_torch_dataset(unlabelled)
    assert from_torch_dataset(unlabelled, label_index=None).labels is None
    ragged = [(np.zeros(3), 0), (np.zeros(4), 1)]
    with pytest.raises(InputError, match="item 1 has input shape"):
        from_torch_dataset(ragged)
    with pytest.raises(InputError, match="empty"):
        from_torch_dataset([])
    with pytest.raises(ConfigError, match="batch_size"):
        from_torch_dataset(unlabelled, batch_size=0)


# ----------------------------------------------------------------------------- Hugging Face


@pytest.fixture(scope="module")
def reviews():
    """20 real Rotten Tomatoes snippets and their labels (0 rotten, 1 fresh)."""
    d = load_rotten_tomatoes(embed=False)
    return list(d.texts_train[:20]), d.y_train[:20].tolist()


@pytest.fixture()
def saved(tmp_path, reviews):
    texts, labels = reviews
    ds = hf.Dataset.from_dict(
        {"text": texts, "label": labels},
        features=hf.Features({"text": hf.Value("string"),
                              "label": hf.ClassLabel(names=["rotten", "fresh"])}),
    )
    path = tmp_path / "reviews"
    ds.save_to_disk(str(path))
    return path


def test_hf_text_column_gives_cached_minilm_embeddings(
    saved, reviews, tmp_path, monkeypatch
) -> None:
    texts, labels = reviews
    cache = tmp_path / "cache"
    ex = from_hf_dataset(saved, text_column="text", cache_dir=cache)
    assert ex.embeddings.shape == (20, 384) and ex.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ex.embeddings, axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(ex.labels, labels)
    assert ex.label_names == ["rotten", "fresh"]
    # The model's own vectors, row for row.
    direct = adapters._minilm().encode(texts)
    np.testing.assert_allclose(ex.embeddings, direct, atol=1e-5)

    monkeypatch.setattr(adapters, "_minilm", lambda: pytest.fail("model used on a cache hit"))
    again = from_hf_dataset(saved, cache_dir=cache)  # text column found by name
    np.testing.assert_array_equal(again.embeddings, ex.embeddings)
    assert len(list(cache.glob("*.npy"))) == 1


def test_hf_feature_column_and_callable_encoder(tmp_path, reviews) -> None:
    texts, labels = reviews
    rows = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = hf.Dataset.from_dict({"f": rows.tolist(), "text": texts, "y": labels})
    ds = ds.select(range(19, -1, -1))
    ex = from_hf_dataset(ds, feature_column="f", label_column="y")
    np.testing.assert_array_equal(ex.embeddings, rows[::-1])  # the selection's order is kept
    np.testing.assert_array_equal(ex.labels, labels[::-1])

    def lengths(batch):
        return np.array([[len(t)] for t in batch], dtype=np.float32)

    with pytest.raises(ConfigError, match="encoder_id"):
        from_hf_dataset(ds, text_column="text", label_column=None, encoder=lengths)
    ex = from_hf_dataset(ds, text_column="text", label_column=None, encoder=lengths,
                         encoder_id="len", batch_size=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(ex.embeddings[:, 0], [len(t) for t in texts[::-1]])
    assert ex.labels is None
    with pytest.raises(ConfigError, match="unknown text encoder"):
        embed_texts(["a"], "bert-base")


def test_hf_errors(saved, monkeypatch) -> None:
    with pytest.raises(InputError, match=r"text column 'review' not found; columns: text, label"):
        from_hf_dataset(saved, text_column="review")
    with pytest.raises(InputError, match=r"label column 'y' not found.*label_column=None"):
        from_hf_dataset(saved, text_column="text", label_column="y")
    with pytest.raises(ConfigError, match="not both"):
        from_hf_dataset(saved, text_column="text", feature_column="label")
    dd = hf.DatasetDict({"train": hf.load_from_disk(str(saved))})
    with pytest.raises(InputError, match="splits train"):
        from_hf_dataset(dd)
    with pytest.raises(InputError, match="does not exist"):
        from_hf_dataset(saved.parent / "missing")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'prunekit\[text\]'"):
        from_hf_dataset(saved)


def test_core_imports_without_torch_or_datasets() -> None:
    code = (
        "import sys, prunekit.io.adapters, prunekit.datasets\n"
        "mods = ('torch', 'datasets', 'sentence_transformers')\n"
        "print(sorted(m for m in mods if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
