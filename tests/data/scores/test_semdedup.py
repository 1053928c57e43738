"""SemDeDup: planted near-duplicate groups are found exactly; the blocked fast path agrees with the
slow reference; memory-mapped input gives the same answer as in-memory input."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted_duplicates

from prunekit.data import score
from prunekit.data.scores.clustering import fit_clusters
from prunekit.data.scores.semdedup import POLICIES, semdedup, semdedup_reference
from prunekit.errors import ConfigError
from prunekit.io.examples import from_arrays, read_examples


@pytest.fixture(scope="module")
def planted():
    return planted_duplicates(n_groups=50, n_background=600)


def check_groups(dup: np.ndarray, group: np.ndarray) -> None:
    background = group < 0
    assert (dup[background] == -1).all(), "a distinct background point was removed"
    for g in np.unique(group[~background]):
        members = np.flatnonzero(group == g)
        kept = members[dup[members] == -1]
        assert len(kept) == 1, f"group {g}: kept {kept.tolist()} of {members.tolist()}"
        others = members[members != kept[0]]
        assert (dup[others] == kept[0]).all(), f"group {g} points outside itself"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("k", [1, 8, 25])
def test_planted_groups_keep_one_each(planted, policy, k):
    X, group = planted
    table = score(from_arrays(X), "semdedup", k=k, eps=0.05, policy=policy, seed=0)
    dup = table.duplicate_of
    check_groups(dup, group)
    n_planted = int((group >= 0).sum()) - len(np.unique(group[group >= 0]))
    assert int((dup >= 0).sum()) == n_planted
    assert table.meta["scorers"][0]["n_duplicates"] == n_planted
    # redundancy: removed copies have similarity ~1 to an earlier member, background far less
    red = table.scores["semdedup"]
    assert red[dup >= 0].min() > 0.99
    assert red[group < 0].max() < 0.95


@pytest.mark.parametrize("policy", ["hard", "easy"])
def test_policy_decides_which_member_is_kept(planted, policy):
    X, group = planted
    cl = fit_clusters(X, 8, seed=0)
    dup, _ = semdedup(X, cl.assign, cl.distance, cl.k, eps=0.05, policy=policy)
    check_groups(dup, group)
    for g in np.unique(group[group >= 0]):
        members = np.flatnonzero(group == g)
        d = cl.distance[members]
        best = members[np.argmax(d)] if policy == "hard" else members[np.argmin(d)]
        assert dup[best] == -1


def test_kept_rule_not_greedy_public_rule():
    """a ~ b and b ~ c but a ≁ c, keep order a, b, c: the public rule drops c (close to the removed
    b); this project's rule keeps c because no *kept* earlier item is its near-duplicate."""
    t = np.deg2rad([0.0, 10.0, 20.0])
    X = np.stack([np.cos(t), np.sin(t), np.zeros(3)], axis=1).astype(np.float32)
    eps = 1 - np.cos(np.deg2rad(15))  # 10° apart are duplicates, 20° apart are not
    assign = np.zeros(3, np.int32)
    distance = np.array([3.0, 2.0, 1.0], np.float32)  # hard policy: order 0, 1, 2
    for impl in (semdedup, semdedup_reference):
        dup, msim = impl(X, assign, distance, 1, eps=eps, policy="hard")
        assert dup.tolist() == [-1, 0, -1]
        np.testing.assert_allclose(msim, [-1.0, np.cos(np.deg2rad(10)), np.cos(np.deg2rad(10))], atol=1e-6)


def clustered_with_duplicates(seed: int):
    """Clusters of varied sizes plus chains of close points, so that many removals, chains and
    ties between candidate duplicates occur."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 24))
    parts = []
    for c, size in zip(centres, [300, 150, 80, 40, 9, 1]):
        pts = c + 0.35 * rng.normal(size=(size, 24))
        parts.append(pts)
        src = pts[rng.integers(len(pts), size=size // 3)]
        parts.append(src + 0.02 * rng.normal(size=src.shape))
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("eps", [0.01, 0.05, 0.1, 0.2])
@pytest.mark.parametrize("block,memory", [(7, None), (64, None), (1024, None), (64, 4096)])
def test_fast_path_matches_reference(policy, eps, block, memory):
    X = clustered_with_duplicates(seed=int(eps * 100))
    cl = fit_clusters(X, 7, seed=0)
    kw = {} if memory is None else {"memory": memory}  # 4 KiB: 42 rows a group, many groups
    dup, msim = semdedup(X, cl.assign, cl.distance, cl.k, eps=eps, policy=policy, seed=4, block=block, **kw)
    ref_dup, ref_msim = semdedup_reference(X, cl.assign, cl.distance, cl.k, eps=eps, policy=policy, seed=4)
    assert (ref_dup >= 0).sum() > 20  # the comparison is only meaningful with removals
    np.testing.assert_array_equal(dup, ref_dup)
    np.testing.assert_allclose(msim, ref_msim, atol=1e-5)
    # every removal points at a kept member of its own cluster
    removed = np.flatnonzero(dup >= 0)
    assert (dup[dup[removed]] == -1).all()
    assert (cl.assign[dup[removed]] == cl.assign[removed]).all()


def test_memory_mapped_input_matches_in_memory(planted, tmp_path):
    X, _ = planted
    np.save(tmp_path / "x.npy", X)
    mm = read_examples(tmp_path / "x.npy")
    assert isinstance(mm.embeddings, np.memmap)
    for policy in POLICIES:
        a = score(mm, "semdedup", k=8, policy=policy, seed=2)
        b = score(from_arrays(X.copy()), "semdedup", k=8, policy=policy, seed=2)
        assert a.duplicate_of.tobytes() == b.duplicate_of.tobytes()
        assert a.scores["semdedup"].tobytes() == b.scores["semdedup"].tobytes()
        assert a.cluster.tobytes() == b.cluster.tobytes()
    # the low-level function on a memmap with a small block, and with a small memory budget so
    # clusters are collected in several groups (several passes over the file)
    cl = fit_clusters(X, 8, seed=0)
    ref_dup, ref_sim = semdedup(X, cl.assign, cl.distance, cl.k, block=7)
    for memory in (None, 20 * X.shape[1] * 4):
        kw = {} if memory is None else {"memory": memory}
        for src in (mm.embeddings, X):
            dup, sim = semdedup(src, cl.assign, cl.distance, cl.k, block=7, **kw)
            assert dup.tobytes() == ref_dup.tobytes() and sim.tobytes() == ref_sim.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spilled_groups_match_one_pass_per_group(planted, tmp_path, monkeypatch, dtype):
    """With many groups a memory-mapped matrix is written once in cluster order to a temporary
    file and each group read back as one slice; the answer is bit for bit the one of a pass over
    the matrix per group (in-memory input), and of that path when the spill cannot be written."""
    from prunekit.data.scores import semdedup as sd

    X, _ = planted
    np.save(tmp_path / "x.npy", X.astype(dtype))
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    cl = fit_clusters(X, 8, seed=0)
    memory = 20 * X.shape[1] * 4  # 20 rows a group
    assert len(sd.cluster_groups(cl.sizes(), 20)) >= sd.SPILL_GROUPS
    want = semdedup(X.astype(dtype), cl.assign, cl.distance, cl.k, block=7, memory=memory, policy="random")
    ref_dup, _ = semdedup_reference(X, cl.assign, cl.distance, cl.k, policy="random")
    assert (want[0] >= 0).sum() > 20 and want[0].tobytes() == ref_dup.tobytes()

    def no_pass(*a, **kw):
        raise AssertionError("a pass over the file per group")

    with monkeypatch.context() as m:
        m.setattr(sd, "_collect", no_pass)
        got = semdedup(mm, cl.assign, cl.distance, cl.k, block=7, memory=memory, policy="random")
    assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()

    def no_space(*a, **kw):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(sd.tempfile, "TemporaryFile", no_space)
        got = semdedup(mm, cl.assign, cl.distance, cl.k, block=7, memory=memory, policy="random")
    assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()


def test_larger_eps_removes_more(planted):
    X, _ = planted
    counts = [int((score(from_arrays(X), "semdedup", k=5, eps=e).duplicate_of >= 0).sum())
              for e in (0.0, 0.05, 0.4, 0.9)]
    assert counts == sorted(counts)
    assert counts[-1] > counts[1]


def test_bad_parameters():
    X = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    with pytest.raises(ConfigError, match="eps"):
        score(from_arrays(X), "semdedup", k=2, eps=1.0)
    with pytest.raises(ConfigError, match="eps"):
        score(from_arrays(X), "semdedup", k=2, eps=-0.1)
    with pytest.raises(ConfigError, match="policy must be one of .hard., .easy., .random., got .medium."):
        score(from_arrays(X), "semdedup", k=2, policy="medium")
    with pytest.raises(ConfigError, match="cosine"):
        score(from_arrays(X), "semdedup", k=2, metric="l2")


def _semdedup_at(threads: int, X, assign, distance, k):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, user_api="blas"):
        return semdedup(X, assign, distance, k, eps=0.05)


def test_same_bits_at_any_blas_thread_count():
    """OpenBLAS rounds some products differently on 1 and 2 threads (on MNIST's 784-d rows, 3 of
    4,000 similarities differed in their last bit), which broke the Ray engine's equality with the
    local engine (1 thread per Ray task). SemDeDup computes on one BLAS thread everywhere and runs
    clusters in parallel instead; so the local result at 2 (or 3) threads is the 1-thread one."""
    from prunekit.datasets import load

    ex = load("mnist5k").train_examples()
    X = (ex.embeddings / np.linalg.norm(ex.embeddings, axis=1, keepdims=True)).astype(np.float32)
    from prunekit.data.scores.clustering import assign_block, centroid_index, fit_centroids

    C = fit_centroids(X[::4], 20, metric="cosine", niter=10, seed=0)
    assign, distance = assign_block(centroid_index(C, "cosine"), C, X, "cosine")
    one = _semdedup_at(1, X, assign, distance, 20)
    for threads in (2, 3):
        many = _semdedup_at(threads, X, assign, distance, 20)
        assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1]), threads
    assert (one[0] >= 0).sum() > 50  # MNIST-5k has near-duplicates at eps 0.05
