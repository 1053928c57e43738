"""Training-dynamics scores (EL2N, forgetting, AUM, dynamic uncertainty) from a hand-written
recorded history, GraNd against a per-example autograd loop, and a planted-label-noise check."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from prunekit.data.scores.dynamics import (  # noqa: E402
    Recorder,
    RecorderCallback,
    aum,
    dynamic_uncertainty,
    el2n,
    forgetting,
    grand,
    grand_last_layer,
    grand_reference,
)
from prunekit.errors import ConfigError, InputError  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The inputs here are tiny: on a busy machine, torch's second intra-op thread only adds waits
    at every parallel region (the same reason conftest runs faiss on one thread)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(autouse=True)
def deterministic():
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    yield
    torch.use_deterministic_algorithms(prev)


# ----------------------------------------------------------------------------- a hand-made history
#
# 4 examples, 3 classes, 4 epochs. Logits are log-probabilities, so softmax gives back exactly the
# probabilities written here (to float32 precision) and every value below is checkable by hand.
LABELS = np.array([0, 1, 2, 0])
UNSEEN = None  # example not presented in that epoch
PROBS = [  # PROBS[example][epoch]
    # ex 0 (y=0): correct, wrong, correct, correct -> one forgetting event
    [[0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.6, 0.2, 0.2], [0.8, 0.1, 0.1]],
    # ex 1 (y=1): never correct -> never learned
    [[0.5, 0.3, 0.2], [0.5, 0.4, 0.1], [0.6, 0.3, 0.1], [0.7, 0.2, 0.1]],
    # ex 2 (y=2): always correct
    [[0.2, 0.2, 0.6], [0.1, 0.2, 0.7], [0.1, 0.1, 0.8], [0.05, 0.05, 0.9]],
    # ex 3 (y=0): wrong, (not seen), correct, wrong -> one event, 3 presentations
    [[0.3, 0.6, 0.1], UNSEEN, [0.6, 0.3, 0.1], [0.4, 0.5, 0.1]],
]


def record_history(rec: Recorder, probs=PROBS, labels=LABELS, *, as_torch=False) -> Recorder:
    n_epochs = len(probs[0])
    for e in range(n_epochs):
        present = [i for i in range(len(probs)) if probs[i][e] is not None]
        # two batches per epoch, in reversed order on odd epochs (order within an epoch is free)
        order = present[::-1] if e % 2 else present
        for batch in (order[:2], order[2:]):
            if not batch:
                continue
            z = np.log(np.array([probs[i][e] for i in batch], dtype=np.float32))
            idx, lab = np.array(batch), labels[batch]
            if as_torch:
                z, idx, lab = torch.from_numpy(z), torch.from_numpy(idx), torch.from_numpy(lab)
            rec.record(idx, z, lab, epoch=e)
    return rec


@pytest.fixture
def history():
    return record_history(Recorder(4, 3))


def test_recorded_arrays(history):
    r = history
    assert r.n_epochs == 4
    assert r.el2n.shape == r.p_true.shape == r.correct.shape == (4, 4)
    assert np.isnan(r.el2n[1, 3]) and r.correct[1, 3] == -1 and not r.seen[1, 3]
    assert r.seen.sum() == 15
    np.testing.assert_array_equal(r.correct[:, 0], [1, 0, 1, 1])
    np.testing.assert_array_equal(r.correct[:, 1], [0, 0, 0, 0])
    np.testing.assert_allclose(r.p_true[:, 0], [0.5, 0.2, 0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(r.logit_margin[0], [math.log(.5 / .3), math.log(.3 / .5), math.log(.6 / .2),
                                                   math.log(.3 / .6)], rtol=1e-5)
    np.testing.assert_allclose(r.prob_margin[3], [0.7, -0.5, 0.85, -0.1], rtol=1e-5)
    np.testing.assert_array_equal(r.n_presentations, [4, 4, 4, 3])
    np.testing.assert_array_equal(r.forgetting_events, [1, 0, 0, 1])
    np.testing.assert_array_equal(r.ever_correct, [True, False, True, True])


def test_torch_and_numpy_inputs_agree(history):
    t = record_history(Recorder(4, 3), as_torch=True)
    for a, b in zip(history.state_dict().values(), t.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_el2n_hand_computed(history):
    np.testing.assert_allclose(
        el2n(history, 0),
        [math.sqrt(.25 + .09 + .04), math.sqrt(.25 + .49 + .04), math.sqrt(.04 + .04 + .16),
         math.sqrt(.49 + .36 + .01)],
        rtol=1e-5)
    e1 = el2n(history, 1)
    assert np.isnan(e1[3])  # not seen in epoch 1
    np.testing.assert_allclose(e1[:3], [math.sqrt(.64 + .49 + .01), math.sqrt(.25 + .36 + .01),
                                        math.sqrt(.01 + .04 + .09)], rtol=1e-5)
    # an easy example is not drowned in float32 cancellation: p_y = 1 - 3e-6
    r = Recorder(1, 3)
    r.record([0], np.log(np.array([[1 - 3e-6, 2e-6, 1e-6]])), [0], 0)
    np.testing.assert_allclose(el2n(r, 0), [math.sqrt(4e-12 + 1e-12 + 9e-12)], rtol=1e-3)


def test_forgetting_hand_computed(history):
    scores, never = forgetting(history)
    # ex 1 never learned: n_presentations (4) + 1
    np.testing.assert_array_equal(scores, [1, 5, 0, 1])
    assert never == 1


def test_aum_hand_computed(history):
    logit = [
        -np.mean([math.log(.5 / .3), math.log(.2 / .7), math.log(.6 / .2), math.log(.8 / .1)]),
        -np.mean([math.log(.3 / .5), math.log(.4 / .5), math.log(.3 / .6), math.log(.2 / .7)]),
        -np.mean([math.log(.6 / .2), math.log(.7 / .2), math.log(.8 / .1), math.log(.9 / .05)]),
        -np.mean([math.log(.3 / .6), math.log(.6 / .3), math.log(.4 / .5)]),  # 3 epochs seen
    ]
    np.testing.assert_allclose(aum(history), logit, rtol=1e-5)
    np.testing.assert_allclose(aum(history, "logit"), logit, rtol=1e-5)
    prob = [-np.mean([.2, -.5, .4, .7]), -np.mean([-.2, -.1, -.3, -.5]),
            -np.mean([.4, .5, .7, .85]), -np.mean([-.3, .3, -.1])]
    np.testing.assert_allclose(aum(history, "prob"), prob, rtol=1e-5, atol=1e-7)
    # difficulty: the never-learned example is the hardest, the always-easy one the easiest
    assert np.argmax(aum(history)) == 1 and np.argmin(aum(history)) == 2


def test_dynamic_uncertainty_hand_computed(history):
    s2 = 1 / math.sqrt(2)  # std (ddof 1) of two values a, b is |a - b| / sqrt(2)
    du = dynamic_uncertainty(history, window=2)
    np.testing.assert_allclose(du, [
        np.mean([.3, .4, .2]) * s2,   # p_true 0.5 0.2 0.6 0.8
        np.mean([.1, .1, .1]) * s2,   # 0.3 0.4 0.3 0.2
        np.mean([.1, .1, .1]) * s2,   # 0.6 0.7 0.8 0.9
        0.2 * s2,                     # 0.3 -- 0.6 0.4: only the window (e2, e3) has 2 values
    ], rtol=1e-5)
    # window longer than the history: one window over all epochs
    full = dynamic_uncertainty(history, window=10)
    np.testing.assert_allclose(full[:3], [np.std(v, ddof=1) for v in
                                          ([.5, .2, .6, .8], [.3, .4, .3, .2], [.6, .7, .8, .9])], rtol=1e-5)
    np.testing.assert_allclose(full[3], np.std([.3, .6, .4], ddof=1), rtol=1e-5)
    np.testing.assert_allclose(dynamic_uncertainty(history, window=3, ddof=0)[2],
                               np.mean([np.std([.6, .7, .8]), np.std([.7, .8, .9])]), rtol=1e-5)


def second_history():
    """Another run: ex 1 learned at epoch 2, ex 3 never presented, 3 epochs."""
    probs = [
        [[0.6, 0.3, 0.1], [0.7, 0.2, 0.1], [0.9, 0.05, 0.05]],
        [[0.5, 0.3, 0.2], [0.3, 0.6, 0.1], [0.6, 0.3, 0.1]],
        [[0.2, 0.2, 0.6], [0.3, 0.3, 0.4], [0.6, 0.1, 0.3]],
        [None, None, None],
    ]
    return record_history(Recorder(4, 3), probs)


def test_averaging_over_runs(history):
    other = second_history()
    both = [history, other]
    e0, o0 = el2n(history, 0), el2n(other, 0)
    assert np.isnan(o0[3])
    # mean over the runs that saw the example: ex 3 only in the first run
    np.testing.assert_allclose(el2n(both, 0), [*((e0[:3] + o0[:3]) / 2), e0[3]], rtol=1e-6)
    np.testing.assert_allclose(aum(both)[:3], (aum(history)[:3] + aum(other)[:3]) / 2, rtol=1e-6)
    assert aum(both)[3] == pytest.approx(aum(history)[3])  # only one run saw it
    s, never = forgetting(both)
    # run 2: ex 0 no event, ex 1 learned then forgotten (1 event), ex 2 forgotten at epoch 2
    np.testing.assert_array_equal(forgetting(other)[0][:3], [0, 1, 1])
    # ex 3 presented in one run of two: its mean over the runs that saw it, times 2
    np.testing.assert_array_equal(s, [1 + 0, 5 + 1, 0 + 1, 2 * 1])
    assert never == 1
    du = dynamic_uncertainty(both, window=2)
    np.testing.assert_allclose(du[:3], (dynamic_uncertainty(history, 2)[:3] + dynamic_uncertainty(other, 2)[:3]) / 2)
    with pytest.raises(InputError, match="epoch 3 was not recorded"):
        el2n(both, 3)
    assert np.isnan(forgetting(other)[0][3])


def test_repeated_presentations_in_one_epoch():
    r = Recorder(3, 2)
    good, bad = [2.0, 0.0], [0.0, 2.0]
    # ex 0 presented three times in epoch 0 (twice in one batch): correct, wrong, correct
    r.record([0, 1, 0], np.array([good, good, bad]), [0, 0, 0], 0)
    r.record([0], np.array([[3.0, 0.0]]), [0], 0)
    assert r.n_presentations.tolist() == [3, 1, 0]
    assert r.forgetting_events.tolist() == [1, 0, 0]
    assert r.logit_margin[0, 0] == pytest.approx(3.0)  # the last presentation wins
    r2 = Recorder(1, 2)
    r2.record([0, 0, 0, 0], np.array([good, bad, good, bad]), [0, 0, 0, 0], 0)
    assert r2.forgetting_events.tolist() == [2] and r2.logit_margin[0, 0] == pytest.approx(-2.0)


def test_epochs_grow_and_skipped_epochs_are_nan():
    r = Recorder(2, 2)
    r.record([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 0], epoch=0)
    r.record([0, 1], np.array([[2.0, 0.0], [0.0, 3.0]]), [0, 0], epoch=7)
    assert r.n_epochs == 8 and np.isnan(r.el2n[1:7]).all()
    np.testing.assert_allclose(aum(r), [-1.5, 2.0])
    # skipped epochs do not count as windows
    np.testing.assert_allclose(dynamic_uncertainty(r, window=2), np.std(r.p_true[[0, 7]], axis=0, ddof=1))


def test_state_dict_round_trip(history, tmp_path):
    state = history.state_dict()
    np.savez(tmp_path / "rec.npz", **state)
    loaded = dict(np.load(tmp_path / "rec.npz"))
    r = Recorder(4, 3)
    r.load_state_dict(loaded)
    for f in (el2n,):
        np.testing.assert_array_equal(f(r, 2), f(history, 2))
    np.testing.assert_array_equal(forgetting(r)[0], forgetting(history)[0])
    np.testing.assert_array_equal(aum(r), aum(history))
    # recording continues exactly as without the round trip
    z = np.log(np.array([[0.1, 0.8, 0.1]]))
    for rec in (r, history):
        rec.record([2], z, [2], 4)
    for a, b in zip(r.state_dict().values(), history.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="n=5"):
        Recorder(5, 3).load_state_dict(state)
    with pytest.raises(InputError, match="missing"):
        Recorder(4, 3).load_state_dict({"n": 4})


@pytest.mark.parametrize("call, match", [
    (lambda r: r.record([0, 1], np.zeros((2, 3)), [0, 3], 0), r"labels must lie in \[0, 3\)"),
    (lambda r: r.record([0, 1], np.zeros((2, 3)), [0, -1], 0), r"labels must lie in \[0, 3\)"),
    (lambda r: r.record([0, 4], np.zeros((2, 3)), [0, 1], 0), r"indices must lie in \[0, 4\)"),
    (lambda r: r.record([0, 1], np.zeros((2, 2)), [0, 1], 0), "2 columns but .* 3 classes"),
    (lambda r: r.record([0, 1, 2], np.zeros((2, 3)), [0, 1], 0), "indices has 3 entries"),
    (lambda r: r.record([0, 1], np.zeros((2, 3)), [0], 0), "labels has 1 entries"),
    (lambda r: r.record([0, 1], np.zeros(3), [0, 1], 0), "2-D"),
    (lambda r: r.record([0, 1], np.zeros((2, 3)), [0, 1], -1), "epoch"),
    (lambda r: r.record([0, 1], np.array([[0, np.nan, 0], [0, 0, 0]]), [0, 1], 0), "NaN or inf .* example 0"),
    (lambda r: r.record([0.5, 1], np.zeros((2, 3)), [0, 1], 0), "indices must be integers"),
    (lambda r: r.record(torch.tensor([0, 1]), torch.zeros(2, 3), torch.tensor([0, 7]), 0), "labels must lie"),
])
def test_record_rejects_bad_input(call, match):
    r = Recorder(4, 3)
    with pytest.raises(InputError, match=match):
        call(r)
    assert r.n_presentations.sum() == 0  # nothing half-written


def test_score_functions_reject_bad_input(history):
    with pytest.raises(ConfigError, match="variant"):
        aum(history, "area")
    with pytest.raises(ConfigError, match="window"):
        dynamic_uncertainty(history, window=1)
    with pytest.raises(InputError, match="recorded nothing"):
        aum(Recorder(4, 3))
    with pytest.raises(InputError, match="recorder 1 has n=5"):
        aum([history, Recorder(5, 3)])
    with pytest.raises(InputError, match="no recorders"):
        forgetting([])
    with pytest.raises(InputError, match="Recorder"):
        forgetting(np.zeros(3))
    r = Recorder(2, 2)
    r.record([0, 1], np.zeros((2, 2)), [0, 1], 0)
    with pytest.raises(InputError, match="at least 2 recorded epochs"):
        dynamic_uncertainty(r)
    with pytest.raises(ConfigError):
        Recorder(0, 3)
    with pytest.raises(ConfigError):
        Recorder(3, 1)


# ----------------------------------------------------------------------------- GraNd


class TinyCNN(nn.Module):
    """2 conv layers on 8×8 digits given as flat 64-vectors."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 32), nn.ReLU(),
        )
        self.head = nn.Linear(32, 10)

    def features(self, x):
        return self.body(x.reshape(-1, 1, 8, 8))

    def forward(self, x):
        return self.head(self.features(x))


class TinyMLP(nn.Module):
    """MLP with BatchNorm (buffers: GraNd must run it in eval mode) and dropout."""

    def __init__(self, d=64, h=48, c=10):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(h, c)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def _warm(model, X):
    """Give BatchNorm non-trivial running statistics (one train-mode pass)."""
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(X[:200]))
    return model


class ResidualCNN(nn.Module):
    """Conv2d with groups, dilation, "same" and reflect padding, stride, BatchNorm2d, in-place ReLU
    and an in-place residual add: every case the factored method must get right."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding="same", dilation=2)
        self.bn = nn.BatchNorm2d(6)
        self.conv = nn.Conv2d(6, 6, 3, padding=1, groups=3, padding_mode="reflect")
        self.down = nn.Conv2d(6, 8, 2, stride=2, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(8 * 16, 10)

    def forward(self, x):
        h = self.relu(self.bn(self.stem(x.reshape(-1, 1, 8, 8))))
        r = self.conv(h)
        r += h  # in place, on a layer output
        return self.head(self.relu(self.down(r)).flatten(1))


class SeqModel(nn.Module):
    """Linear and LayerNorm on (B, T, d) sequences (per-example gradients summed over positions);
    ``proj`` (T = 2, 16 → 16) takes the Gram-matrix path, the others materialise."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.norm = nn.LayerNorm(16)
        self.mix = nn.Linear(8, 2)  # along the time axis: T = 8 → 2
        self.proj = nn.Linear(16, 16)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        h = torch.tanh(self.norm(self.inp(x.reshape(-1, 8, 8))))  # (B, 8, 16)
        h = self.mix(h.transpose(1, 2)).transpose(1, 2)  # (B, 2, 16)
        return self.head(torch.tanh(self.proj(h)).flatten(1))


@pytest.mark.parametrize("make", [TinyCNN, TinyMLP, ResidualCNN, SeqModel])
def test_grand_matches_reference(make, digits):
    X, y = digits
    torch.manual_seed(1)
    model = _warm(make(), X)
    Xs, ys = X[:70], y[:70]
    ref = grand_reference(model, Xs, ys)
    assert model.training  # mode restored
    for method in ("factored", "vmap", "auto"):
        fast = grand(model, Xs, ys, batch_size=32, method=method)  # 3 batches, the last one partial
        assert model.training
        assert fast.shape == (70,) and fast.dtype == np.float64 and (fast > 0).all()
        np.testing.assert_allclose(fast, ref, rtol=1e-4, err_msg=method)
    # tensors in, same answer; frozen parameters are left out of the norm
    np.testing.assert_allclose(grand(model, torch.from_numpy(Xs), torch.from_numpy(ys)), ref, rtol=1e-4)
    model.head.bias.requires_grad_(False)
    first = next(model.parameters())
    first.requires_grad_(False)
    frozen = grand_reference(model, Xs, ys)
    assert (frozen < ref).all()
    for method in ("factored", "vmap"):
        np.testing.assert_allclose(grand(model, Xs, ys, method=method), frozen, rtol=1e-4, err_msg=method)


class SharedWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(torch.tanh(self.fc(torch.tanh(self.fc(x)))))  # fc called twice


class OwnParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(64))
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(x * self.scale)


class WeightUsedTwice(nn.Module):
    """Calls its layer once but also reads the layer's weight directly: only the check against
    autograd can notice."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x) + nn.functional.linear(x ** 2, self.fc.weight)


@pytest.mark.parametrize("make, why", [(SharedWeights, "called 2 times"), (OwnParameter, "OwnParameter")])
def test_grand_falls_back_to_vmap(make, why, digits):
    X, y = digits
    model = make()
    ref = grand_reference(model, X[:20], y[:20])
    np.testing.assert_allclose(grand(model, X[:20], y[:20]), ref, rtol=1e-4)
    with pytest.raises(ConfigError, match=why):
        grand(model, X[:20], y[:20], method="factored")


def test_grand_auto_checks_against_autograd(digits):
    X, y = digits
    model = WeightUsedTwice()
    ref = grand_reference(model, X[:20], y[:20])
    assert not np.allclose(grand(model, X[:20], y[:20], method="factored"), ref, rtol=1e-3)
    with pytest.warns(RuntimeWarning, match="disagree"):
        auto = grand(model, X[:20], y[:20])
    np.testing.assert_allclose(auto, ref, rtol=1e-4)


def test_grand_last_layer_matches_autograd(digits):
    X, y = digits
    torch.manual_seed(2)
    model = _warm(TinyCNN(), X)
    model.eval()
    Xs, ys = torch.from_numpy(X[:40]), torch.from_numpy(y[:40])
    ref = []
    for i in range(40):
        loss = nn.functional.cross_entropy(model(Xs[i:i + 1]), ys[i:i + 1])
        gw, gb = torch.autograd.grad(loss, [model.head.weight, model.head.bias])
        ref.append(math.sqrt(float((gw.double() ** 2).sum() + (gb.double() ** 2).sum())))
    model.train()
    np.testing.assert_allclose(grand_last_layer(model, Xs, ys, batch_size=16), ref, rtol=1e-5)
    assert model.training
    with torch.no_grad():
        model.eval()
        h = model.features(Xs)
        z = model.head(h)
    np.testing.assert_allclose(grand_last_layer(h.numpy(), z.numpy(), ys.numpy()), ref, rtol=1e-5)
    np.testing.assert_allclose(grand_last_layer(h, torch.softmax(z, 1), ys, probs=True), ref, rtol=1e-5)
    # it is a different score from GraNd over all parameters
    assert not np.allclose(grand(model, Xs, ys), ref, rtol=0.1)


def test_grand_errors(digits):
    X, y = digits
    model = TinyCNN()
    with pytest.raises(InputError, match=r"labels must lie in \[0, 10\)"):
        grand(model, X[:4], np.array([0, 1, 2, 10]))
    with pytest.raises(InputError, match="y has 3 entries"):
        grand(model, X[:4], y[:3])
    with pytest.raises(ConfigError, match="batch_size"):
        grand(model, X[:4], y[:4], batch_size=0)
    with pytest.raises(ConfigError, match="method"):
        grand(model, X[:4], y[:4], method="fast")
    with pytest.raises(ConfigError, match="features"):
        grand_last_layer(nn.Sequential(nn.Linear(64, 10)), X[:4], y[:4])
    with pytest.raises(InputError, match="not probability vectors"):
        grand_last_layer(np.ones((2, 3)), np.ones((2, 4)), [0, 1], probs=True)
    with pytest.raises(InputError, match="labels"):
        grand_reference(model, X[:2], np.array([-1, 0]))


# ----------------------------------------------------------------------------- planted label noise


def test_flipped_labels_rank_hardest(digits):
    """10% of the digits' labels flipped: over a short training run, recorded every batch, the
    flipped examples get the worst AUM, EL2N and forgetting scores."""
    X, y = digits
    n, c = len(y), 10
    rng = np.random.default_rng(0)
    flipped = rng.choice(n, n // 10, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, c, len(flipped))) % c
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, c))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(noisy)
    g = torch.Generator().manual_seed(0)
    rec = Recorder(n, c)
    epochs = 8
    for epoch in range(epochs):
        for idx in torch.randperm(n, generator=g).split(64):
            logits = model(Xt[idx])
            loss = nn.functional.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.record(idx, logits, yt[idx], epoch)
    assert rec.seen.all()

    def check(scores, name, mean_pct=0.8, top_frac=0.7):
        pct = np.argsort(np.argsort(scores, kind="stable"), kind="stable") / (n - 1)
        hardest = np.argsort(-scores, kind="stable")[: n // 5]
        m, top = pct[flipped].mean(), np.isin(flipped, hardest).mean()
        assert m > mean_pct and top >= top_frac, f"{name}: mean percentile {m:.3f}, in top 20% {top:.2f}"

    check(aum(rec), "aum")
    check(aum(rec, "prob"), "aum prob")
    check(el2n(rec, epochs - 1), "el2n last")
    check(el2n(rec, 2), "el2n epoch 2")
    check(forgetting(rec)[0], "forgetting")
    # Dynamic uncertainty measures how much p_y fluctuates: examples the model consistently gets
    # wrong (unlearnable flipped labels) have a stable p_y ≈ 0, so they score *low* — by design.
    du = dynamic_uncertainty(rec, window=5)
    assert (np.argsort(np.argsort(du)) / (n - 1))[flipped].mean() < 0.5


# ----------------------------------------------------------------------------- Lightning


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated")  # inside lightning, with torch 2.13
def test_lightning_callback(tmp_path):
    pl = pytest.importorskip("lightning.pytorch", reason="lightning not installed (pip install lightning)")
    from torch.utils.data import DataLoader, TensorDataset

    n, c = 96, 3
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, 5, generator=gen)
    y = torch.randint(0, c, (n,), generator=gen)

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(5, c)

        def training_step(self, batch, batch_idx):
            x, t, i = batch
            logits = self.net(x)
            return {"loss": nn.functional.cross_entropy(logits, t), "logits": logits, "indices": i,
                    "labels": t}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    rec = Recorder(n, c)
    loader = DataLoader(TensorDataset(X, y, torch.arange(n)), batch_size=32, shuffle=True, generator=gen)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                         callbacks=[RecorderCallback(rec)])
    module = Module()
    trainer.fit(module, loader)
    assert rec.n_epochs == 2 and rec.seen.all()
    assert rec.n_presentations.tolist() == [2] * n
    assert np.isfinite(aum(rec)).all()
    # the recorder travels in the checkpoint: a resumed run goes on recording where it stopped
    ckpt = tmp_path / "two.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed = Recorder(n, c)
    trainer = pl.Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                         callbacks=[RecorderCallback(resumed)])
    trainer.fit(Module(), loader, ckpt_path=ckpt)
    assert resumed.n_epochs == 3 and resumed.n_presentations.tolist() == [3] * n
    np.testing.assert_array_equal(resumed.el2n[:2], rec.el2n)


def test_lightning_callback_contract_errors():
    with pytest.raises(ConfigError, match="Recorder"):
        RecorderCallback(object())
    with pytest.raises(ConfigError, match="package"):
        RecorderCallback(Recorder(2, 2), package="keras")


def test_lightning_missing_gives_install_line(monkeypatch):
    import sys

    from prunekit.errors import MissingDependencyError

    for name in ("lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)  # import of a None entry raises ImportError
    with pytest.raises(MissingDependencyError, match="pip install lightning"):
        RecorderCallback(Recorder(2, 2))
