"""Training on the kept subset (ALGORITHMS.md Part 3): the deterministic trainer, knowledge
distillation from a teacher trained on all the data (with its logits cached), RS2, compute budgets,
checkpoints and bad input. Real data: scikit-learn digits (1437 × 64 train, 360 test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import prunekit.data.train.kd as kd_mod
from prunekit.data import ScoreTable
from prunekit.data.select.base import proportional
from prunekit.data.train import (
    RS2, FixedSubset, TrainConfig, evaluate, fit, kd_alpha_auto, kd_loss, load_checkpoint, make_model,
    predict_logits, rows_from_selection, save_checkpoint, teacher_logits,
)
from prunekit.datasets import load
from prunekit.errors import ConfigError, InputError, PrunekitError

N_DIGITS = 1437


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    ds = load("digits")
    assert ds.X_train.shape == (N_DIGITS, 64) and ds.X_test.shape == (360, 64)
    return ds


@pytest.fixture(scope="module")
def subset30():
    """A fixed random 30% of the digits train rows (431 rows), sorted."""
    return np.sort(np.random.default_rng(123).choice(N_DIGITS, 431, replace=False))


@pytest.fixture(scope="module")
def teacher_T(digits):
    """Logits of a small teacher trained on all of digits (2 epochs; good enough to differ from CE)."""
    r = fit(digits.X_train, digits.y_train, TrainConfig(epochs=2, seed=7))
    return predict_logits(r.model, digits.X_train)


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


def same_params(a, b) -> bool:
    pa, pb = params(a), params(b)
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb))


class EpochRows:
    """A recorder that keeps the rows each epoch trained on, in order."""

    def __init__(self):
        self.rows: dict[int, list[np.ndarray]] = {}

    def record(self, indices, logits, labels, epoch):
        self.rows.setdefault(epoch, []).append(np.asarray(indices).copy())

    def epoch(self, e) -> np.ndarray:
        return np.concatenate(self.rows[e])


CFG = dict(epochs=3, batch_size=128, seed=0)


# ----------------------------------------------------------------------------- knowledge distillation


def test_kd_alpha_zero_is_plain_cross_entropy_bit_for_bit(digits, subset30, teacher_T):
    X, y = digits.X_train, digits.y_train
    cfg = TrainConfig(**CFG)
    plain = fit(X, y, cfg, rows=subset30)
    zero = fit(X, y, cfg, rows=subset30, kd_alpha=0.0)
    zero_with_teacher = fit(X, y, cfg, rows=subset30, teacher_logits=teacher_T, kd_alpha=0.0, kd_tau=2.0)
    for r in (zero, zero_with_teacher):
        assert same_params(plain.model, r.model)
        assert r.history == plain.history
        assert r.steps == plain.steps
    # and the same under RS2
    a = fit(X, y, cfg, rs2_keep=0.3)
    b = fit(X, y, cfg, rs2_keep=0.3, teacher_logits=teacher_T, kd_alpha=0)
    assert same_params(a.model, b.model) and a.history == b.history


def test_kd_alpha_positive_changes_training(digits, subset30, teacher_T):
    X, y = digits.X_train, digits.y_train
    cfg = TrainConfig(**CFG)
    plain = fit(X, y, cfg, rows=subset30)
    kd = fit(X, y, cfg, rows=subset30, teacher_logits=teacher_T, kd_alpha=0.5)
    assert not same_params(plain.model, kd.model)
    assert any(not torch.equal(p, q) for p, q in zip(params(plain.model), params(kd.model)))
    assert kd.config["kd_alpha"] == 0.5 and kd.config["kd_tau"] == 4.0
    # same seed, same steps: only the loss differs
    assert kd.steps == plain.steps
    # the temperature matters too
    kd2 = fit(X, y, cfg, rows=subset30, teacher_logits=teacher_T, kd_alpha=0.5, kd_tau=1.0)
    assert not same_params(kd.model, kd2.model)


def test_kd_loss_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    B, C = 7, 5
    s = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    t = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    yb = torch.tensor([0, 1, 2, 3, 4, 0, 2])
    for alpha, tau in [(0.3, 4.0), (0.7, 2.0), (1.0, 1.0), (0.5, 0.5)]:
        ce = -np.mean([torch.log_softmax(s[i], 0)[yb[i]].item() for i in range(B)])
        kl = 0.0
        for i in range(B):
            pt = torch.softmax(t[i] / tau, 0)
            kl += float((pt * (torch.log(pt) - torch.log_softmax(s[i] / tau, 0))).sum())
        kl /= B
        expected = (1 - alpha) * ce + alpha * tau * tau * kl
        got = float(kd_loss(s, yb, t, alpha, tau))
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-12), (alpha, tau)
    # alpha = 0 is exactly cross-entropy, teacher or not
    ce_t = torch.nn.functional.cross_entropy(s, yb)
    assert torch.equal(kd_loss(s, yb, t, 0.0, 4.0), ce_t)
    assert torch.equal(kd_loss(s, yb, None, 0.5, 4.0), ce_t)
    # the KL term vanishes when student and teacher agree
    assert float(kd_loss(s, yb, s.clone(), 1.0, 4.0)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("keep, alpha", [(1.0, 0.25), (0.9, 0.25), (0.75, 0.25), (0.5, 0.5), (0.3, 0.7),
                                         (0.1, 0.9), (0.05, 0.9), (0.0, 0.9)])
def test_kd_alpha_auto_values(keep, alpha):
    assert kd_alpha_auto(keep) == pytest.approx(alpha, abs=1e-12)


def test_kd_alpha_auto_uses_the_kept_fraction(digits, subset30, teacher_T):
    X, y = digits.X_train, digits.y_train
    cfg = TrainConfig(epochs=1, seed=0)
    keep = len(subset30) / N_DIGITS
    auto = fit(X, y, cfg, rows=subset30, teacher_logits=teacher_T, kd_alpha="auto")
    assert auto.config["kd_alpha"] == pytest.approx(1 - keep)  # ≈ 0.70
    explicit = fit(X, y, cfg, rows=subset30, teacher_logits=teacher_T, kd_alpha=kd_alpha_auto(keep))
    assert same_params(auto.model, explicit.model)
    # RS2: the fraction per epoch
    r = fit(X, y, cfg, rs2_keep=0.2, teacher_logits=teacher_T, kd_alpha="auto")
    assert r.config["kd_alpha"] == pytest.approx(0.8)
    # all data: the floor
    r = fit(X, y, cfg, teacher_logits=teacher_T, kd_alpha="auto")
    assert r.config["kd_alpha"] == pytest.approx(0.25)


# ----------------------------------------------------------------------------- RS2


def blocks_cover(epochs: list[np.ndarray], n: int, k: int) -> list[np.ndarray]:
    return [np.concatenate(epochs[j * k:(j + 1) * k]) for j in range(len(epochs) // k)]


def test_rs2_without_replacement_divisible_sees_each_example_once_per_block():
    n, b = 1000, 250  # f = 0.25: blocks of ⌈1/f⌉ = 4 epochs
    s = RS2(n, b, seed=3)
    epochs = [s.epoch(e) for e in range(20)]
    assert all(len(e) == b and len(np.unique(e)) == b for e in epochs)
    for blk in blocks_cover(epochs, n, 4):
        np.testing.assert_array_equal(np.sort(blk), np.arange(n))  # exactly once each
    # and the blocks are reshuffled (not the same order again)
    assert not np.array_equal(np.concatenate(epochs[:4]), np.concatenate(epochs[4:8]))


@pytest.mark.parametrize("n, b", [(1000, 300), (1001, 300), (100, 30), (1437, 431), (10, 3)])
def test_rs2_without_replacement_indivisible_sees_each_example_at_least_once_per_block(n, b):
    k = math.ceil(n / b)
    s = RS2(n, b, seed=0)
    epochs = [s.epoch(e) for e in range(6 * k)]
    for e in epochs:
        assert len(e) == b and len(np.unique(e)) == b  # distinct rows within an epoch
        assert e.min() >= 0 and e.max() < n
    for j, blk in enumerate(blocks_cover(epochs, n, k)):
        missing = np.setdiff1d(np.arange(n), blk)
        assert len(missing) == 0, f"block {j} of {k} epochs misses {len(missing)} of {n} examples"
        # nobody is seen more than twice in a block (only the top-up of the last window repeats)
        assert np.bincount(blk, minlength=n).max() <= 2


def test_rs2_with_replacement_each_epoch_is_a_set_of_the_right_size():
    n, b = 1000, 300
    s = RS2(n, b, replace=True, seed=1)
    epochs = [s.epoch(e) for e in range(12)]
    for e in epochs:
        assert len(e) == b and len(np.unique(e)) == b
        assert e.min() >= 0 and e.max() < n
    # independent draws: consecutive epochs overlap (unlike windows of one permutation)
    overlaps = [len(np.intersect1d(a, c)) for a, c in zip(epochs, epochs[1:])]
    assert sum(overlaps) > 0
    assert not all(np.array_equal(np.sort(epochs[0]), np.sort(e)) for e in epochs[1:])


@pytest.mark.parametrize("b", [300, 301, 77])
def test_rs2_balanced_draws_are_class_proportional(mixture_arrays, b):
    _, y = mixture_arrays  # class sizes 400, 250, 200, 100, 50
    sizes = np.bincount(y)
    want = proportional(sizes, b)
    s = RS2(len(y), b, labels=y, balanced=True, seed=2)
    for e in range(5):
        rows = s.epoch(e)
        assert len(rows) == b and len(np.unique(rows)) == b
        counts = np.bincount(y[rows], minlength=len(sizes))
        np.testing.assert_array_equal(counts, want)
        assert np.all(np.abs(counts - b * sizes / len(y)) < 1)
    if b == 300:
        np.testing.assert_array_equal(want, [120, 75, 60, 30, 15])


def test_rs2_bad_arguments():
    with pytest.raises(ConfigError, match="budget"):
        RS2(10, 0)
    with pytest.raises(ConfigError, match="budget"):
        RS2(10, 11)
    with pytest.raises(InputError, match="labels"):
        RS2(10, 3, balanced=True)
    s = RS2(10, 3)
    s.epoch(0)
    with pytest.raises(ConfigError, match="order"):
        s.epoch(2)


def test_trainer_rs2_steps_per_epoch_and_schedule_end(digits):
    X, y = digits.X_train, digits.y_train
    rec = EpochRows()
    # 1437 = 3 × 479: f = 1/3 gives a per-epoch budget of 479 that divides N
    r = fit(X, y, TrainConfig(epochs=6, batch_size=128, seed=0, budget="epochs"), rs2_keep=1 / 3, recorder=rec)
    per_epoch = 479
    spe = math.ceil(per_epoch / 128)
    assert r.examples_per_epoch == per_epoch
    assert r.steps == 6 * spe
    assert [h["step"] for h in r.history] == [spe * (e + 1) for e in range(6)]
    assert r.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at the last step
    assert all(h["lr"] > 0 for h in r.history[:-1])
    # the trainer really trains on RS2's windows: every row exactly once per 3 epochs
    for j in range(2):
        blk = np.concatenate([rec.epoch(e) for e in range(3 * j, 3 * j + 3)])
        np.testing.assert_array_equal(np.sort(blk), np.arange(N_DIGITS))
    assert all(len(rec.epoch(e)) == per_epoch for e in range(6))

    # with replacement and a budget that does not divide the batch: still ⌈budget / batch⌉ steps
    r = fit(X, y, TrainConfig(epochs=4, batch_size=100, seed=0, budget="epochs"), rs2_keep=0.3, rs2_replace=True)
    assert r.examples_per_epoch == 431 and r.steps == 4 * 5
    assert r.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("schedule, last", [("step", 0.05 * 0.01), ("constant", 0.05)])
def test_other_schedules_end_where_they_should(digits, schedule, last):
    r = fit(digits.X_train, digits.y_train, TrainConfig(epochs=4, schedule=schedule, seed=0), rs2_keep=0.3)
    assert r.history[-1]["lr"] == pytest.approx(last)
    assert r.history[0]["lr"] == pytest.approx(0.05)


# ----------------------------------------------------------------------------- teacher logits


class CountingTeacher:
    def __init__(self, dim, n_classes):
        self.net = make_model("linear", dim, n_classes, seed=5)
        self.calls = 0

    def __call__(self, xb):
        self.calls += 1
        return self.net(xb)


def test_callable_teacher_is_called_once_over_the_data(digits):
    X, y = digits.X_train, digits.y_train
    t = CountingTeacher(64, 10)
    T, info = teacher_logits(X, y, teacher=t)
    assert t.calls == math.ceil(N_DIGITS / 1024)  # one batched pass
    assert T.shape == (N_DIGITS, 10) and T.dtype == np.float32
    np.testing.assert_allclose(T, predict_logits(t.net, X), rtol=1e-6, atol=1e-6)
    r = fit(X, y, TrainConfig(epochs=4, seed=0, budget="epochs"), rs2_keep=0.5, teacher_logits=T, kd_alpha=0.5)
    assert r.steps == 4 * math.ceil(round(0.5 * N_DIGITS) / 128)
    assert t.calls == math.ceil(N_DIGITS / 1024)  # training never calls the teacher again


def test_trained_teacher_is_cached(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEKIT_CACHE", str(tmp_path / "cache"))
    calls = []
    real_fit = kd_mod.fit

    def counting_fit(*a, **k):
        calls.append(1)
        return real_fit(*a, **k)

    monkeypatch.setattr(kd_mod, "fit", counting_fit)
    X, y = digits.X_train, digits.y_train
    cfg = TrainConfig(epochs=1, seed=0)
    T1, info1 = teacher_logits(X, y, teacher=None, config=cfg)
    assert len(calls) == 1 and info1["cached"] is False and info1["train_seconds"] > 0
    assert T1.shape == (N_DIGITS, 10)
    assert len(list((tmp_path / "cache").glob("teacher-*.npy"))) == 1
    T2, info2 = teacher_logits(X, y, teacher=None, config=cfg)
    assert len(calls) == 1, "the second call trained the teacher again"
    assert info2["cached"] is True
    np.testing.assert_array_equal(np.asarray(T1), np.asarray(T2))
    # the cached logits are those of the model fit trains
    direct = real_fit(X, y, cfg)
    np.testing.assert_array_equal(np.asarray(T2), predict_logits(direct.model, X))
    # another configuration is another teacher
    teacher_logits(X, y, teacher=None, config=TrainConfig(epochs=1, seed=1))
    assert len(calls) == 2
    # cache=False always trains
    teacher_logits(X, y, teacher=None, config=cfg, cache=False)
    assert len(calls) == 3


def test_teacher_from_checkpoint(digits, tmp_path):
    X, y = digits.X_train, digits.y_train
    r = fit(X, y, TrainConfig(epochs=1, seed=0))
    p = save_checkpoint(r, tmp_path / "t.pt")
    T, info = teacher_logits(X, y, teacher=p)
    np.testing.assert_array_equal(T, predict_logits(r.model, X))
    with pytest.raises(InputError, match="features"):
        teacher_logits(X[:, :32], y, teacher=p)


def test_teacher_with_a_different_class_count_is_refused(digits):
    X, y = digits.X_train, digits.y_train
    with pytest.raises(InputError, match="classes"):
        teacher_logits(X, y, teacher=CountingTeacher(64, 7))
    with pytest.raises(InputError, match=r"expected \(1437, 10\)"):
        fit(X, y, TrainConfig(epochs=1), teacher_logits=np.zeros((N_DIGITS, 7), np.float32), kd_alpha=0.5)
    with pytest.raises(InputError, match="shape"):
        fit(X, y, TrainConfig(epochs=1), teacher_logits=np.zeros((100, 10), np.float32), kd_alpha=0.5)
    with pytest.raises(ConfigError, match="teacher"):
        fit(X, y, TrainConfig(epochs=1), kd_alpha=0.5)


# ----------------------------------------------------------------------------- budgets, learning


def test_budgets_epochs_and_steps(digits, subset30):
    X, y = digits.X_train, digits.y_train
    full = fit(X, y, TrainConfig(epochs=3, seed=0))
    assert full.steps == 3 * math.ceil(N_DIGITS / 128) == 36
    ep = fit(X, y, TrainConfig(epochs=3, budget="epochs", seed=0), rows=subset30)
    assert ep.steps == 3 * math.ceil(len(subset30) / 128)
    assert 0.25 <= ep.steps / full.steps <= 0.4
    assert len(ep.history) == 3
    st = fit(X, y, TrainConfig(epochs=3, budget="steps", seed=0), rows=subset30)
    assert st.steps == full.steps
    assert st.history[-1]["step"] == full.steps and len(st.history) == 9  # more passes over the subset
    assert st.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    # steps budget with RS2 too
    rs = fit(X, y, TrainConfig(epochs=3, budget="steps", seed=0), rs2_keep=0.3)
    assert rs.steps == full.steps
    assert rs.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_determinism_and_seeds(digits, subset30):
    X, y = digits.X_train, digits.y_train
    a = fit(X, y, TrainConfig(epochs=2, seed=11), rows=subset30)
    b = fit(X, y, TrainConfig(epochs=2, seed=11), rows=subset30)
    c = fit(X, y, TrainConfig(epochs=2, seed=12), rows=subset30)
    assert same_params(a.model, b.model) and a.history == b.history
    assert not same_params(a.model, c.model)
    assert a.history != c.history
    # the seed alone fixes the initial weights
    assert same_params(make_model("mlp", 64, 10, seed=3), make_model("mlp", 64, 10, seed=3))
    assert not same_params(make_model("mlp", 64, 10, seed=3), make_model("mlp", 64, 10, seed=4))
    # RS2 draws depend on the seed as well
    ra = fit(X, y, TrainConfig(epochs=2, seed=11), rs2_keep=0.3)
    rb = fit(X, y, TrainConfig(epochs=2, seed=11), rs2_keep=0.3)
    assert same_params(ra.model, rb.model)


def test_mlp_on_digits_is_a_real_learner(digits):
    r = fit(digits.X_train, digits.y_train, TrainConfig(epochs=5, seed=0),
            X_test=digits.X_test, y_test=digits.y_test)
    losses = [h["train_loss"] for h in r.history]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.3 * losses[0]
    assert r.test_accuracy > 0.85
    acc, loss = evaluate(r.model, digits.X_test, digits.y_test)
    assert acc == r.test_accuracy and loss == pytest.approx(r.test_loss)
    assert r.history[-1]["train_accuracy"] > 0.85
    assert r.seconds > 0 and r.examples_per_epoch == N_DIGITS


def test_cnn_and_linear_train_on_digits(digits):
    for name, floor in (("cnn", 0.5), ("linear", 0.5)):
        r = fit(digits.X_train, digits.y_train, TrainConfig(model=name, epochs=4, seed=0),
                X_test=digits.X_test, y_test=digits.y_test)
        assert r.test_accuracy > floor, name


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("model, width", [("mlp", 1), ("mlp", 2), ("cnn", 1), ("linear", 1)])
def test_checkpoint_round_trip(digits, tmp_path, model, width):
    r = fit(digits.X_train, digits.y_train, TrainConfig(model=model, width=width, epochs=1, seed=0))
    p = save_checkpoint(r, tmp_path / "m.pt")
    m2, cfg = load_checkpoint(p)
    assert cfg["model"] == model and cfg["width"] == width and cfg["dim"] == 64 and cfg["n_classes"] == 10
    np.testing.assert_array_equal(predict_logits(m2, digits.X_test), predict_logits(r.model, digits.X_test))
    assert same_params(m2, r.model)
    assert list(tmp_path.iterdir()) == [p]  # written atomically: no temporary left behind


def test_non_checkpoints_are_refused(tmp_path):
    txt = tmp_path / "notes.pt"
    txt.write_text("this is not a checkpoint\n")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    plain_dict = tmp_path / "dict.pt"
    torch.save({"state_dict": {}}, plain_dict)
    for p in (txt, tensor, plain_dict):
        with pytest.raises(InputError, match="not a prunekit checkpoint"):
            load_checkpoint(p)
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


# ----------------------------------------------------------------------------- bad input


def test_labels_outside_the_class_range(digits):
    X, y = digits.X_train[:200], digits.y_train[:200].copy()
    y5 = y % 5
    y5[17] = 7
    with pytest.raises(InputError, match=r"label 7 is outside \[0, 5\)"):
        fit(X, y5, TrainConfig(epochs=1), n_classes=5)
    neg = y.copy()
    neg[3] = -1
    with pytest.raises(InputError, match=r"label -1 is outside"):
        fit(X, neg, TrainConfig(epochs=1))
    with pytest.raises(InputError, match="lengths"):
        fit(X, y[:-1], TrainConfig(epochs=1))
    with pytest.raises(InputError, match="no training examples"):
        fit(X[:0], y[:0], TrainConfig(epochs=1))


def test_bad_subsets(digits):
    X, y = digits.X_train, digits.y_train
    with pytest.raises(InputError, match=r"\[0, 1437\)"):
        fit(X, y, TrainConfig(epochs=1), rows=np.array([0, 5, N_DIGITS]))
    with pytest.raises(InputError, match=r"\[0, 1437\)"):
        fit(X, y, TrainConfig(epochs=1), rows=np.array([-1, 5]))
    with pytest.raises(InputError, match="empty"):
        fit(X, y, TrainConfig(epochs=1), rows=np.array([], dtype=np.int64))
    with pytest.raises(InputError, match="empty"):
        FixedSubset(np.array([], dtype=np.int64))
    with pytest.raises(ConfigError, match="not both"):
        fit(X, y, TrainConfig(epochs=1), rows=np.arange(10), rs2_keep=0.5)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="rs2_keep"):
            fit(X, y, TrainConfig(epochs=1), rs2_keep=bad)


@pytest.mark.parametrize("alpha", [1.5, -0.1, float("nan"), "half"])
def test_kd_alpha_outside_unit_interval(digits, teacher_T, alpha):
    with pytest.raises(ConfigError, match="kd_alpha"):
        fit(digits.X_train, digits.y_train, TrainConfig(epochs=1), teacher_logits=teacher_T, kd_alpha=alpha)


def test_kd_tau_must_be_positive(digits, teacher_T):
    with pytest.raises(ConfigError, match="kd_tau"):
        fit(digits.X_train, digits.y_train, TrainConfig(epochs=1), teacher_logits=teacher_T, kd_alpha=0.5,
            kd_tau=0)


@pytest.mark.parametrize("field, value, needle", [
    ("model", "resnet", "model must be one of 'mlp', 'cnn', 'linear' or a factory 'module:function', got 'resnet'"),
    ("model", "no_such_pk_module:make", "model 'no_such_pk_module:make': cannot import module 'no_such_pk_module'"),
    ("optimizer", "lbfgs", "optimizer must be one of 'sgd', 'adamw', got 'lbfgs'"),
    ("schedule", "linear", "schedule must be one of 'cosine', 'onecycle', 'step', 'constant', got 'linear'"),
    ("depth", 0, "depth must be an integer ≥ 1, got 0"),
    ("budget", "flops", "budget must be one of 'epochs', 'steps', got 'flops'"),
    ("epochs", 0, "epochs must be an integer ≥ 1, got 0"),
    ("batch_size", 1.5, "batch_size must be an integer ≥ 1, got 1.5"),
    ("lr", -1.0, "lr must be a number > 0, got -1.0"),
    ("width", 0, "width must be an integer ≥ 1, got 0"),
    ("device", "tpu", "unknown device 'tpu'"),
])
def test_unknown_or_bad_config(digits, field, value, needle):
    cfg = TrainConfig(**{"epochs": 1, field: value})
    with pytest.raises(ConfigError) as ei:
        fit(digits.X_train[:100], digits.y_train[:100], cfg)
    assert needle in str(ei.value)
    assert isinstance(ei.value, PrunekitError)


def _train_param_cases():
    from prunekit.data.train import TRAIN_PARAMS

    return [(p.name, v) for p in TRAIN_PARAMS for v in p.invalid_examples()]


@pytest.mark.parametrize("field, value", _train_param_cases(), ids=lambda v: repr(v))
def test_every_declared_training_parameter_refuses_its_invalid_values(field, value):
    from prunekit.data.train import TRAIN_PARAMS

    with pytest.raises(ConfigError) as ei:
        TrainConfig(**{field: value}).validate()
    assert str(ei.value) == str(TRAIN_PARAMS[field].error(value))


def test_cnn_needs_a_square_dim():
    X = np.random.default_rng(0).random((50, 60), dtype=np.float32)
    y = np.arange(50) % 3
    with pytest.raises(ConfigError, match="dim 60 is not a square"):
        fit(X, y, TrainConfig(model="cnn", epochs=1))
    with pytest.raises(ConfigError, match="not a square"):
        make_model("cnn", 50, 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_without_cuda_is_refused(digits):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        fit(digits.X_train[:100], digits.y_train[:100], TrainConfig(epochs=1, device="cuda"))
    with pytest.raises(ConfigError, match="CUDA is not available"):
        TrainConfig(device="cuda:0").validate()
    assert TrainConfig(device="auto").validate().device == "auto"


# ----------------------------------------------------------------------------- rows_from_selection


def _table(ids, keep=None):
    ids = np.asarray(ids, dtype=object)
    return ScoreTable(ids=ids, labels=None, scores={"random": np.zeros(len(ids))},
                      keep=None if keep is None else np.asarray(keep, dtype=bool))


def test_rows_from_selection_maps_kept_ids_to_rows():
    table_ids = [f"ex{i}" for i in range(10)]
    keep = np.zeros(10, bool)
    keep[[1, 4, 5, 9]] = True
    data_ids = np.array(table_ids[::-1] + ["extra"], dtype=object)  # other order, one more row
    rows = rows_from_selection(_table(table_ids, keep), data_ids)
    assert rows.dtype == np.int64
    assert np.all(np.diff(rows) > 0)
    assert sorted(data_ids[rows].tolist()) == sorted(["ex1", "ex4", "ex5", "ex9"])
    np.testing.assert_array_equal(rows, [0, 4, 5, 8])  # ex9, ex5, ex4, ex1


def test_rows_from_selection_integer_ids():
    keep = np.array([True, False, True, True])
    rows = rows_from_selection(ScoreTable(ids=np.array([10, 11, 12, 13]), labels=None, scores={}, keep=keep),
                               np.array([13, 12, 11, 10, 99]))
    np.testing.assert_array_equal(rows, [0, 1, 3])


def test_rows_from_selection_bad_input():
    keep = np.array([True, True, False])
    with pytest.raises(InputError, match="'c'"):
        rows_from_selection(_table(["a", "b", "c"], [True, False, True]), np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError, match="not in the data"):
        rows_from_selection(_table(["a", "b", "z"], keep[::-1]), np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError, match="no selection"):
        rows_from_selection(_table(["a", "b", "c"]), np.array(["a", "b", "c"], dtype=object))
    with pytest.raises(InputError, match="keeps no examples"):
        rows_from_selection(_table(["a", "b", "c"], [False, False, False]), np.array(["a", "b", "c"], dtype=object))
