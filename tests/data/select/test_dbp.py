"""Density-based pruning: cluster statistics, the capped-simplex projection (against an exact
and a general-purpose QP solver) and the integer quotas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from prunekit.data import score, select
from prunekit.data.scores.clustering import Clustering
from prunekit.data.scores.geometry import cluster_statistics
from prunekit.data.select import capped_simplex_projection, dbp_quotas
from prunekit.errors import ConfigError, InputError
from prunekit.io.examples import from_arrays

# ----------------------------------------------------------------------------- statistics


def test_cluster_statistics_by_hand():
    s = np.sqrt(0.5)
    # c0 is deliberately not unit length: statistics normalise centroids first
    centroids = np.array([[2, 0], [0, 1], [-1, 0], [s, s]], np.float32)
    assign = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 3], np.int32)
    distance = np.array([0.1, 0.2, 0.3, 0.2, 0.2, 0.4, 0.4, 0.5, 0.7, 0.0], np.float32)
    cl = Clustering(centroids, assign, distance, "cosine")
    st = cluster_statistics(cl, n_neighbors=2)
    a = 1 - s  # 1 - cos 45°
    # 1 - cos to the other centroids: c0 → (1, 2, a); c1 → (1, 1, a); c2 → (2, 1, 1 + s); c3 → (a, a, 1 + s)
    np.testing.assert_allclose(st["d_inter"], [(a + 1) / 2, (a + 1) / 2, (1 + 1 + s) / 2, a], atol=1e-6)
    np.testing.assert_allclose(st["d_intra"], [0.2, 0.3, 0.6, 0.0], atol=1e-6)
    assert st["size"].tolist() == [3, 4, 2, 1]
    c0, c1 = 0.2 * (a + 1) / 2, 0.3 * (a + 1) / 2
    # clusters of 1–2 members take the mean complexity of the others
    np.testing.assert_allclose(st["complexity"], [c0, c1, (c0 + c1) / 2, (c0 + c1) / 2], atol=1e-6)

    # more neighbours than other centroids: all of them
    st3 = cluster_statistics(cl, n_neighbors=20)
    np.testing.assert_allclose(st3["d_inter"][0], (1 + 2 + a) / 3, atol=1e-6)
    np.testing.assert_allclose(st3["d_inter"][3], (a + a + 1 + s) / 3, atol=1e-6)


def test_cluster_statistics_empty_cluster():
    centroids = np.eye(3, dtype=np.float32)
    assign = np.array([0, 0, 0, 2, 2, 2], np.int32)
    cl = Clustering(centroids, assign, np.full(6, 0.5, np.float32), "cosine")
    st = cluster_statistics(cl, n_neighbors=1)
    assert st["size"].tolist() == [3, 0, 3]
    assert st["complexity"][1] == 0.0
    assert np.isfinite(st["complexity"]).all()


# ----------------------------------------------------------------------------- projection


def kkt_bruteforce(t, lo, hi, total):
    """Exact projection onto {lo <= x <= hi, sum x = total} by enumerating which coordinates sit
    at their lower bound, at their upper bound or are free (x = t - λ), checking KKT."""
    n = len(t)
    best = None
    for states in itertools.product((0, 1, 2), repeat=n):
        s = np.array(states)
        fixed = np.where(s == 0, lo, np.where(s == 1, hi, 0.0))
        free = s == 2
        if free.any():
            lam = (t[free].sum() - (total - fixed[~free].sum())) / free.sum()
        else:
            if abs(fixed.sum() - total) > 1e-9:
                continue
            lam = None
        x = np.where(free, t - (lam if lam is not None else 0.0), fixed)
        if (x < lo - 1e-9).any() or (x > hi + 1e-9).any() or abs(x.sum() - total) > 1e-9:
            continue
        if lam is not None:  # multipliers have the right sign
            if ((s == 0) & (t - lam > lo + 1e-9)).any() or ((s == 1) & (t - lam < hi - 1e-9)).any():
                continue
        val = ((x - t) ** 2).sum()
        if best is None or val < best[0] - 1e-12:
            best = (val, x)
    return best[1]


def random_instance(rng, n):
    t = rng.normal(size=n) * 5
    lo = rng.uniform(-3, 1, size=n)
    hi = lo + rng.uniform(0.1, 6, size=n)
    total = rng.uniform(lo.sum() + 0.01, hi.sum() - 0.01)
    return t, lo, hi, total


@pytest.mark.parametrize("seed", range(12))
def test_projection_matches_exhaustive_kkt(seed):
    rng = np.random.default_rng(seed)
    t, lo, hi, total = random_instance(rng, 5)
    x = capped_simplex_projection(t, lo, hi, total)
    np.testing.assert_allclose(x, kkt_bruteforce(t, lo, hi, total), atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_projection_matches_slsqp(seed):
    rng = np.random.default_rng(100 + seed)
    t, lo, hi, total = random_instance(rng, 12)
    x = capped_simplex_projection(t, lo, hi, total)
    res = minimize(
        lambda v: ((v - t) ** 2).sum(), x0=np.clip(np.full(12, total / 12), lo, hi),
        jac=lambda v: 2 * (v - t), method="SLSQP", bounds=list(zip(lo, hi)),
        constraints=[{"type": "eq", "fun": lambda v: v.sum() - total, "jac": lambda v: np.ones_like(v)}],
        options={"ftol": 1e-10, "maxiter": 500},
    )
    assert res.success, res.message
    np.testing.assert_allclose(x, res.x, atol=1e-6)
    # and ours is at least as good (bisection to machine precision vs SLSQP's tolerance)
    assert ((x - t) ** 2).sum() <= ((res.x - t) ** 2).sum() + 1e-9
    assert abs(x.sum() - total) < 1e-6
    assert (x >= lo - 1e-12).all() and (x <= hi + 1e-12).all()


def test_projection_by_hand():
    # x0 is capped at 3; the other two share the remaining 3 equally (λ = -0.5)
    x = capped_simplex_projection(np.array([5.0, 1, 1]), np.zeros(3), np.array([3.0, 10, 10]), 6.0)
    np.testing.assert_allclose(x, [3, 1.5, 1.5], atol=1e-9)
    # a lower bound binds
    x = capped_simplex_projection(np.array([1.0, 1, 14]), np.full(3, 2.0), np.full(3, 100.0), 16.0)
    np.testing.assert_allclose(x, [2, 2, 12], atol=1e-9)


def test_projection_infeasible():
    with pytest.raises(InputError, match="infeasible"):
        capped_simplex_projection(np.zeros(3), np.ones(3), np.full(3, 2.0), 7.0)
    with pytest.raises(InputError, match="infeasible"):
        capped_simplex_projection(np.zeros(3), np.ones(3), np.full(3, 2.0), 2.0)


# ----------------------------------------------------------------------------- quotas


def test_quotas_by_hand():
    tau = 0.5
    # P = softmax(c / tau) ∝ (1, 2, 5), m = 8 → target (1, 2, 5); cluster 2 holds only 3 →
    # x2 = 3 and the other two share 5 with a common shift: (2, 3); the empty cluster gets 0.
    c = tau * np.log([1.0, 2.0, 5.0, 1.0])
    q = dbp_quotas(np.array([10, 10, 3, 0]), c, 8, tau)
    assert q.tolist() == [2, 3, 3, 0]
    # target (1, 1, 14) with m = 16, K = 3: lb = floor(16 / 3 · 0.5) = 2 binds for the first two
    q = dbp_quotas(np.array([100, 100, 100]), tau * np.log([1.0, 1.0, 14.0]), 16, tau)
    assert q.tolist() == [2, 2, 12]
    # lb never exceeds size - 1: a 1-member cluster may get nothing
    q = dbp_quotas(np.array([1, 50, 50]), np.array([-50.0, 0.0, 0.0]), 40, tau)
    assert q.tolist() == [0, 20, 20]


@pytest.mark.parametrize("seed", range(25))
def test_quotas_sum_and_bounds(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 40))
    sizes = rng.integers(0, 60, size=k)
    sizes[rng.integers(k)] = max(1, sizes.max())  # at least one non-empty cluster
    complexity = rng.uniform(0, 2, size=k) ** 3
    tau = float(rng.choice([0.05, 0.5, 5.0]))
    n = int(sizes.sum())
    present = sizes > 0
    K = int(present.sum())
    for m in sorted({1, n // 7 + 1, n // 2, n - 1, n} - {0}):
        q = dbp_quotas(sizes, complexity, m, tau)
        assert q.dtype.kind == "i"
        assert int(q.sum()) == m
        assert (q <= sizes).all() and (q >= 0).all()
        lb = np.where(present, np.minimum(np.floor(m / K * 0.5), sizes - 1), 0)
        assert (q >= lb).all(), (m, q, lb)
        assert (q[~present] == 0).all()


def tight_and_loose(seed=0):
    """8 clusters of 200 around orthonormal centres in 16-D: even ones tight (σ = 0.02 per
    coordinate), odd ones loose (σ = 0.08)."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(16, 8)))[0].T
    sigma = np.array([0.02, 0.08] * 4)
    X = np.concatenate([c + s * rng.normal(size=(200, 16)) for c, s in zip(centres, sigma)])
    truth = np.repeat(np.arange(8), 200).astype(np.int32)
    return X.astype(np.float32), truth, sigma > 0.05


def planted_clustering(X, truth) -> Clustering:
    """The planted clusters as a ``Clustering`` (spherical centroids, cosine distances)."""
    E = X / np.linalg.norm(X, axis=1, keepdims=True)
    c = np.stack([E[truth == j].mean(axis=0) for j in range(truth.max() + 1)])
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return Clustering(c.astype(np.float32), truth, (1 - (E * c[truth]).sum(axis=1)).astype(np.float32), "cosine")


def test_loose_clusters_get_larger_quotas():
    X, truth, loose = tight_and_loose()
    st = cluster_statistics(planted_clustering(X, truth))
    assert st["d_intra"][loose].min() > 3 * st["d_intra"][~loose].max()
    assert st["complexity"][loose].min() > st["complexity"][~loose].max()
    for m in (100, 400, 800, 1200):
        q = dbp_quotas(st["size"], st["complexity"], m)
        assert q.sum() == m
        assert (q <= st["size"]).all()
        assert q[loose].min() > q[~loose].max(), (m, q)
        # the lower bound floor(m / K · 0.5) holds for the tight clusters too
        assert q[~loose].min() >= min(np.floor(m / 8 * 0.5), 199)


def test_loose_clusters_keep_more_through_the_pipeline():
    X, truth, loose = tight_and_loose()
    # faiss k-means (random initialisation, one run) splits one planted cluster and merges two
    # others for about half of the seeds even here (a local optimum); seed 0 recovers the planted
    # clusters, checked as a precondition so a change of clustering shows up as such.
    table = score(from_arrays(X), "density", k=8, seed=0)
    ids = np.array([np.bincount(table.cluster[truth == j], minlength=8).argmax() for j in range(8)])
    assert sorted(ids.tolist()) == list(range(8)), "precondition: k-means recovers the planted clusters"
    out = select(table, "dbp", 0.25)
    kept = np.bincount(table.cluster[out.keep], minlength=8)
    assert kept.sum() == 400
    assert kept[ids[loose]].min() > kept[ids[~loose]].max(), kept


def test_dbp_selector_keeps_quota_hardest_per_cluster(scored_table):
    out = select(scored_table, "dbp", 0.3)
    cl = scored_table.cluster
    k = int(cl.max()) + 1
    sizes = np.bincount(cl, minlength=k)
    cx = np.zeros(k)
    cx[cl] = scored_table.scores["cluster_complexity"]
    q = dbp_quotas(sizes, cx, 300, 0.5)
    assert np.bincount(cl[out.keep], minlength=k).tolist() == q.tolist()
    d = scored_table.scores["centroid_distance"]
    for c in range(k):
        rows = np.flatnonzero(cl == c)
        hardest = rows[np.lexsort((rows, -d[rows]))][: q[c]]
        assert sorted(hardest.tolist()) == np.flatnonzero(out.keep & (cl == c)).tolist()
    for r in np.flatnonzero(~out.keep):
        assert out.reason[r].startswith(f"cluster quota: cluster {cl[r]} ")
    easy = select(scored_table, "dbp", 0.3, within="easiest")
    assert np.bincount(cl[easy.keep], minlength=k).tolist() == q.tolist()
    assert (d[easy.keep].mean() < d[out.keep].mean())


def test_dbp_errors(scored_table):
    with pytest.raises(ConfigError, match="tau"):
        select(scored_table, "dbp", 0.3, tau=0)
    with pytest.raises(ConfigError, match="within"):
        select(scored_table, "dbp", 0.3, within="middle")
    no_density = score(from_arrays(np.random.default_rng(0).normal(size=(50, 4))), "random")
    with pytest.raises(InputError, match="density"):
        select(no_density, "dbp", 0.3)
