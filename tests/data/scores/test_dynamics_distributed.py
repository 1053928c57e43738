"""Recorders of a distributed training merge by example index into the record of one process:
``Recorder.merge`` / ``merge_files`` / ``all_gather`` against one Recorder fed the same
presentations (epoch by epoch, rank 0's batches then rank 1's …), and a real 2-process DDP run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DistributedSampler  # noqa: E402

from prunekit.data.scores.dynamics import Recorder, aum, dynamic_uncertainty, el2n, forgetting  # noqa: E402
from prunekit.errors import ConfigError, InputError  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
C = 3


def assert_same_record(a: Recorder, b: Recorder) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(np.asarray(sa[k]), np.asarray(sb[k]), err_msg=k)
        assert np.asarray(sa[k]).dtype == np.asarray(sb[k]).dtype, k


def assert_same_scores(a: Recorder, b: Recorder) -> None:
    for e in range(a.n_epochs):
        np.testing.assert_array_equal(el2n(a, e), el2n(b, e))
    for x, y in zip(forgetting(a), forgetting(b)):
        np.testing.assert_array_equal(x, y)
    for variant in ("logit", "prob"):
        np.testing.assert_array_equal(aum(a, variant), aum(b, variant))
    np.testing.assert_array_equal(dynamic_uncertainty(a, window=2), dynamic_uncertainty(b, window=2))


def shard_batches(n: int, world: int, epochs: int, batch: int = 4, seed: int = 0, repeat_rank=None):
    """{(epoch, rank): [(indices, logits, labels), ...]} with DistributedSampler's shards (a new
    split each epoch; padded by repetition when world does not divide n) and random logits that
    often flip correctness. ``repeat_rank``: that rank also presents its first rows twice per epoch."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, n)
    out = {}
    for epoch in range(epochs):
        for rank in range(world):
            s = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
            s.set_epoch(epoch)
            idx = np.array(list(s))
            if rank == repeat_rank:
                idx = np.concatenate([idx, idx[:3]])
            z = rng.normal(size=(len(idx), C)).astype(np.float32) * 2
            out[epoch, rank] = [(idx[i:i + batch], z[i:i + batch], labels[idx[i:i + batch]])
                                for i in range(0, len(idx), batch)]
    return out


def feed(rec: Recorder, batches, epoch: int) -> None:
    for idx, z, y in batches:
        rec.record(idx, z, y, epoch)


def record(n: int, world: int, epochs: int, **kw):
    """(the per-rank recorders, one recorder fed epoch by epoch, rank by rank)."""
    b = shard_batches(n, world, epochs, **kw)
    ranks = [Recorder(n, C) for _ in range(world)]
    single = Recorder(n, C)
    for epoch in range(epochs):
        for rank in range(world):
            feed(ranks[rank], b[epoch, rank], epoch)
            feed(single, b[epoch, rank], epoch)
    return ranks, single


@pytest.mark.parametrize("n, world", [(24, 2), (23, 2), (22, 3), (2, 3)],
                         ids=["divisible", "padded", "padded-3", "fewer-examples-than-ranks"])
def test_merge_equals_one_process(n, world):
    ranks, single = record(n, world, epochs=6)
    merged = Recorder.merge(ranks)
    assert_same_record(merged, single)
    assert_same_scores(merged, single)
    assert merged.n_presentations.sum() == 6 * -(-n // world) * world  # padded copies count


def test_forgetting_is_rebuilt_across_ranks_not_summed():
    ranks, single = record(40, 2, epochs=8)
    summed = sum(r.forgetting_events.astype(int) for r in ranks)
    # examples move between ranks from epoch to epoch, so many 1 -> 0 changes straddle two ranks
    assert (summed < single.forgetting_events).sum() > 5
    np.testing.assert_array_equal(Recorder.merge(ranks).forgetting_events, single.forgetting_events)


def test_repeated_presentations_within_a_rank():
    ranks, single = record(20, 2, epochs=5, repeat_rank=1)
    assert (single.n_presentations > single.seen.sum(axis=0)).any()
    assert_same_record(Recorder.merge(ranks, duplicates="count"), single)
    with pytest.raises(InputError, match="more than one record"):
        Recorder.merge(ranks[::-1] + ranks[:1], duplicates="padding")


def test_merge_matches_one_process_on_random_presentations():
    """Any presentations (repeats inside and across ranks, skipped epochs, empty ranks, uneven
    lengths), merged with duplicates="count", equal one recorder fed them epoch by epoch, rank by rank."""
    rng = np.random.default_rng(1)
    for _ in range(150):
        world, n, epochs = (int(v) for v in (rng.integers(1, 5), rng.integers(1, 9), rng.integers(1, 6)))
        labels = rng.integers(0, 2, n)
        ranks, single = [Recorder(n, 2) for _ in range(world)], Recorder(n, 2)
        for epoch in range(epochs):
            for rank in range(world if rng.random() > 0.2 else 0):
                idx = rng.integers(0, n, rng.integers(0, 2 * n + 1))
                z = rng.normal(size=(len(idx), 2)).astype(np.float32)
                cut = int(rng.integers(0, len(idx) + 1))
                for sl in (slice(0, cut), slice(cut, len(idx))):
                    for rec in (ranks[rank], single):
                        rec.record(idx[sl], z[sl], labels[idx[sl]], epoch)
        assert_same_record(Recorder.merge(ranks, duplicates="count"), single)


def test_one_record_merges_to_itself():
    ranks, _ = record(10, 1, epochs=3, repeat_rank=0)
    assert_same_record(Recorder.merge(ranks), ranks[0])


def test_overlap_beyond_padding_is_an_error():
    ranks, _ = record(23, 2, epochs=2)
    with pytest.raises(InputError, match=r"recorded by more than one record in epoch 0 .*padding of N=23 "
                                         r"examples over W=2 processes explains at most 1"):
        Recorder.merge([ranks[0], ranks[0]])  # the same record twice
    with pytest.raises(InputError, match='duplicates="error" allows none'):
        Recorder.merge(ranks, duplicates="error")  # the padded copy
    Recorder.merge(record(24, 2, epochs=2)[0], duplicates="error")  # no padding: fine
    merged = Recorder.merge([ranks[0], ranks[0]], duplicates="count")
    np.testing.assert_array_equal(merged.n_presentations, 2 * ranks[0].n_presentations)


def test_merge_rejects_bad_input():
    ranks, _ = record(10, 2, epochs=2)
    with pytest.raises(ConfigError, match="duplicates must be one of padding, count, error"):
        Recorder.merge(ranks, duplicates="ignore")
    with pytest.raises(InputError, match="list of Recorders"):
        Recorder.merge(ranks[0])
    with pytest.raises(InputError, match="at least one"):
        Recorder.merge([])
    with pytest.raises(InputError, match="item 1 is a dict"):
        Recorder.merge([ranks[0], ranks[1].state_dict()])
    with pytest.raises(InputError, match="record 1 has n=11"):
        Recorder.merge([ranks[0], Recorder(11, C)])
    late = Recorder(10, C)
    late.record([0], np.zeros((1, C)), [0], 3)
    late.record([1], np.zeros((1, C)), [0], 1)
    with pytest.raises(InputError, match="record 1 was fed an epoch after a later one"):
        Recorder.merge([ranks[0], late])
    with pytest.raises(InputError, match="Recorder.merge otherwise"):
        ranks[0].all_gather()  # no process group here


def test_records_of_different_lengths():
    # rank 1 stops after epoch 1: the merged record has rank 0's later epochs only
    b = shard_batches(12, 2, 4)
    r0, r1, one = Recorder(12, C), Recorder(12, C), Recorder(12, C)
    for epoch in range(4):
        feed(r0, b[epoch, 0], epoch)
        feed(one, b[epoch, 0], epoch)
        if epoch < 2:
            feed(r1, b[epoch, 1], epoch)
            feed(one, b[epoch, 1], epoch)
    assert r1.n_epochs == 2
    assert_same_record(Recorder.merge([r0, r1]), one)


def test_merge_files_and_version_1_states(tmp_path):
    ranks, single = record(15, 2, epochs=3)
    paths = []
    for i, r in enumerate(ranks):
        r.save(tmp_path / f"rank{i}.npz")
        paths.append(tmp_path / f"rank{i}.npz")
    assert_same_record(Recorder.merge_files(paths), single)
    assert_same_record(Recorder.merge_files([str(p) for p in paths]), single)
    # a version-1 state (no first_correct) merges exactly when every example is presented once an epoch
    old = []
    for r in ranks:
        st = r.state_dict()
        st["version"] = 1
        del st["first_correct"], st["epochs_out_of_order"]
        rec = Recorder(15, C)
        rec.load_state_dict(st)
        old.append(rec)
    assert_same_record(Recorder.merge(old), single)
    rep, _ = record(15, 2, epochs=2, repeat_rank=0)
    st = rep[0].state_dict()
    st["version"] = 1
    rec = Recorder(15, C)
    rec.load_state_dict(st)
    with pytest.raises(InputError, match="version-1 state"):
        Recorder.merge([rec, rep[1]], duplicates="count")
    with pytest.raises(InputError, match="list of paths"):
        Recorder.merge_files(str(paths[0]))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read a Recorder"):
        Recorder.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(InputError, match="not a Recorder file"):
        Recorder.load(tmp_path / "other.npz")


# ----------------------------------------------------------------------------- a real DDP run


def test_ddp_training_on_two_processes(tmp_path):
    """examples/ddp_recorder.py on 2 CPU processes (gloo): digits (1437 training rows, odd, so
    DistributedSampler pads one example per epoch), 3 epochs. Every rank saves its record and the
    raw logits of its batches; rank 0 saves the all_gather result. The merged record, from
    all_gather and from merge_files, equals one Recorder fed the same logits — bit for bit, since
    a recorder's values are per-row functions of the logits (no arithmetic depends on the merge)."""
    import torch.multiprocessing as mp

    from prunekit.datasets import load_digits

    ds = load_digits()  # here, once: importing scikit-learn in each child costs seconds

    sys.path.insert(0, str(EXAMPLES))
    try:
        import ddp_recorder
    finally:
        sys.path.remove(str(EXAMPLES))
    epochs = 3
    init = f"file://{tmp_path / 'rendezvous'}"
    # the children import ddp_recorder by name: spawn gives them the parent's sys.path at start
    sys.path.insert(0, str(EXAMPLES))
    try:
        mp.spawn(ddp_recorder.train, args=(2, str(tmp_path), epochs, init, True, (ds.X_train, ds.y_train, len(ds.label_names))), nprocs=2, join=True)
    finally:
        sys.path.remove(str(EXAMPLES))

    gathered = Recorder.load(tmp_path / "merged.npz")
    from_files = Recorder.merge_files([tmp_path / "rank0.npz", tmp_path / "rank1.npz"])
    n = gathered.n
    single = Recorder(n, gathered.n_classes)
    logs = [torch.load(tmp_path / f"batches{r}.pt") for r in range(2)]
    for epoch in range(epochs):
        for log in logs:
            for e, idx, z, y in log:
                if e == epoch:
                    single.record(idx, z, y, e)
    assert_same_record(gathered, single)
    assert_same_record(from_files, single)
    assert_same_scores(gathered, single)
    assert gathered.n_presentations.sum() == epochs * (n + n % 2)  # one padded copy per epoch
    assert gathered.seen.all()
    ranks = [Recorder.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    assert all(0 < r.seen.sum() < epochs * n for r in ranks)
