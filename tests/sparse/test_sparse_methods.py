"""Sparse methods: schedule-exact densities, drop-and-regrow invariants, optimizer state, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prunekit.errors import ConfigError, InputError
from prunekit.sparse.density import erk_densities, kept_counts
from prunekit.sparse.methods import METHODS, make_sparsifier
from prunekit.sparse.schedules import cubic_sparsity, prune_steps

from sparse_helpers import blobs, lenet300, run_steps

DIM = 64


@pytest.fixture(scope="module")
def data():
    return blobs(n=512, dim=DIM, n_classes=10, seed=0)


def setup(method, sparsity=0.9, *, opt="sgd", seed=0, data=None, **kw):
    net = lenet300(seed=seed, dim=DIM)
    o = (torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4) if opt == "sgd"
         else torch.optim.Adam(net.parameters(), lr=1e-3))
    if method == "snip":
        X, y = data
        kw.setdefault("batch", (X[:64], y[:64]))
    sp = make_sparsifier(method, net, o, sparsity, seed=seed, **kw)
    return net, o, sp


def snapshot(sp):
    return {n: m.clone() for n, m in sp.masks.masks.items()}


class Recorder:
    """Checks, around every sparsifier.step(), the invariants every method must keep."""

    def __init__(self, net, opt, sp, state_keys):
        self.net, self.opt, self.sp, self.keys = net, opt, sp, state_keys
        self.regrown = 0
        self.changed_at = []

    def __call__(self, when, s):
        if when == "before":
            self.before = snapshot(self.sp)
            return
        t = self.sp.t
        changed = False
        for n, p in self.sp.masks.params.items():
            m, old = self.sp.masks.masks[n], self.before[n]
            off = ~m
            assert torch.all(p[off] == 0), f"masked weight nonzero in {n} at t={t}"
            for k in self.keys:
                assert torch.all(self.opt.state[p][k][off] == 0), f"{k} of masked weights nonzero, {n} t={t}"
            new = m & ~old
            if new.any():
                # regrown weights start at 0, with zero optimizer state
                assert torch.all(p[new] == 0), f"regrown weight not 0 in {n} at t={t}"
                for k in self.keys:
                    assert torch.all(self.opt.state[p][k][new] == 0)
                self.regrown += int(new.sum())
            changed |= not torch.equal(m, old)
        if changed:
            self.changed_at.append(t)


def test_granet_density_follows_schedule_and_regrowth_keeps_layer_counts(data):
    T, dt, tf = 120, 10, 75
    net, opt, sp = setup("granet", 0.9, total_steps=T, delta_t=dt, t_end=tf)
    numel = sp.masks.numel()
    events = prune_steps(0, tf, dt)
    swaps = []
    real = sp._drop_and_regrow

    def spy(*a, **k):  # per-layer counts before and after every drop-and-regrow
        before = sp.masks.nonzeros()
        out = real(*a, **k)
        swaps.append((sp.t, before, sp.masks.nonzeros(), out))
        return out

    sp._drop_and_regrow = spy
    rec = Recorder(net, opt, sp, ["momentum_buffer"])
    densities = []

    def check(when, s):
        rec(when, s)
        if when == "after":
            t = sp.t
            last = max(e for e in events if e <= t)
            expected = 1.0 - cubic_sparsity(last, s_initial=0.0, s_final=0.9, t_start=0, t_end=tf)
            assert sum(sp.masks.nonzeros().values()) == round(expected * numel), t
            densities.append(sp.density())

    run_steps(net, opt, sp, *data, T, callback=check)
    assert densities[-1] == pytest.approx(0.1, abs=1 / numel)
    assert densities == sorted(densities, reverse=True)  # only ever prunes
    # drop-and-regrow ran at every ΔT step, also after pruning ended, and kept every layer's count
    assert [s[0] for s in swaps] == list(range(dt, T + 1, dt))
    assert any(s[0] > tf for s in swaps)
    for t, before, after, _moved in swaps:
        assert before == after, t
    assert sum(s[3] for s in swaps) > 0 and rec.regrown > 0
    assert rec.changed_at[-1] > tf  # masks still move after the schedule ended


def test_granet_sparse_to_sparse_starts_from_erk_half_density(data):
    net, opt, sp = setup("granet_s2s", 0.95, total_steps=60, delta_t=10, t_end=40)
    counts = kept_counts(sp.masks.shapes(), erk_densities(sp.masks.shapes(), 0.5))
    assert sp.masks.nonzeros() == counts  # never dense
    assert sp.schedule.s_initial == 0.5
    run_steps(net, opt, sp, *data, 60)
    assert sum(sp.masks.nonzeros().values()) == round(0.05 * sp.masks.numel())


@pytest.mark.parametrize("opt_name, keys", [("sgd", ["momentum_buffer"]), ("adam", ["exp_avg", "exp_avg_sq"])])
@pytest.mark.parametrize("method", ["rigl", "set"])
def test_dst_keeps_layer_counts_and_zero_state(data, method, opt_name, keys):
    T = 100
    net, opt, sp = setup(method, 0.9, opt=opt_name, total_steps=T, delta_t=10)
    start = sp.masks.nonzeros()
    assert start == kept_counts(sp.masks.shapes(), erk_densities(sp.masks.shapes(), 0.1))
    rec = Recorder(net, opt, sp, keys)

    def check(when, s):
        rec(when, s)
        if when == "after":
            assert sp.masks.nonzeros() == start

    run_steps(net, opt, sp, *data, T, callback=check)
    # updates every 10 steps, none from 75 % of training on
    assert rec.changed_at == [10, 20, 30, 40, 50, 60, 70]
    assert rec.regrown > 0


def test_set_regrowth_is_seeded(data):
    def masks(seed):
        net, opt, sp = setup("set", 0.9, seed=0, total_steps=40, delta_t=10)
        sp.generator.manual_seed(seed)  # same start, different regrowth draws
        run_steps(net, opt, sp, *data, 40)
        return snapshot(sp)

    a, b, c = masks(1), masks(1), masks(2)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)


def test_gmp_prunes_to_schedule_without_regrowth(data):
    net, opt, sp = setup("gmp", 0.8, total_steps=50, delta_t=10, t_end=30)
    rec = Recorder(net, opt, sp, ["momentum_buffer"])
    run_steps(net, opt, sp, *data, 50, callback=rec)
    assert rec.regrown == 0
    assert rec.changed_at == [10, 20, 30]
    assert sum(sp.masks.nonzeros().values()) == round(0.2 * sp.masks.numel())


def test_snip_matches_reference_top_k(data):
    X, y = data
    ref = lenet300(seed=0, dim=DIM)
    nn.functional.cross_entropy(ref(X[:64]), y[:64]).backward()
    names = ["fc1", "fc2", "fc3"]
    scores = torch.cat([(getattr(ref, n).weight.grad * getattr(ref, n).weight).abs().flatten() for n in names])
    k = round(0.1 * scores.numel())
    thresh = scores.sort(descending=True).values[k - 1]
    net, opt, sp = setup("snip", 0.9, data=data)
    got = torch.cat([sp.masks.masks[f"{n}.weight"].flatten() for n in names])
    assert int(got.sum()) == k
    assert torch.equal(got, scores >= thresh)  # no ties at the threshold for float scores
    assert all(p.grad is None for p in net.parameters())  # SNIP's backward does not leak


@pytest.mark.parametrize("scope", ["magnitude", "magnitude_layer"])
def test_one_shot_magnitude(data, scope):
    net, opt, sp = setup(scope, 0.75, total_steps=40)
    rec = Recorder(net, opt, sp, ["momentum_buffer"])
    run_steps(net, opt, sp, *data, 40, callback=rec)
    assert rec.changed_at == [20]  # default: prune at half of training, then fine-tune
    dens = sp.masks.layer_densities()
    if scope == "magnitude_layer":
        assert all(d == pytest.approx(0.25, abs=1e-3) for d in dens.values())
    else:
        assert sp.density() == pytest.approx(0.25, abs=1e-5)
        assert len({round(d, 3) for d in dens.values()}) > 1  # global threshold: layers differ


def test_one_shot_at_step_zero_prunes_immediately(data):
    before = torch.cat([p.detach().abs().flatten() for p in lenet300(seed=0, dim=DIM).parameters() if p.dim() == 2])
    net, opt, sp = setup("magnitude", 0.5, prune_step=0)
    kept = torch.cat([sp.masks.masks[n].flatten() for n in sp.masks.names])
    assert int(kept.sum()) == round(0.5 * before.numel())
    assert before[kept].min() >= before[~kept].max()  # the largest magnitudes survive, globally
    assert torch.equal(torch.cat([p.detach().flatten() for p in sp.masks.params.values()]) != 0, kept)


def test_static_random_never_changes(data):
    net, opt, sp = setup("random", 0.9)
    start = snapshot(sp)
    assert sp.masks.nonzeros() == kept_counts(sp.masks.shapes(), erk_densities(sp.masks.shapes(), 0.1))
    run_steps(net, opt, sp, *data, 20)
    assert all(torch.equal(start[n], sp.masks.masks[n]) for n in start)


def test_lottery_ticket_rounds_and_rewinding(data):
    T = 130
    net, opt, sp = setup("lth", 0.9, total_steps=T)
    assert sp.rounds == 11 and sp.round_length == 10 and sp.rewind_step == 1
    saved = {}
    dens = []

    def check(when, s):
        if when != "after":
            return
        t = sp.t
        if t == sp.rewind_step:
            saved.update({k: v.clone() for k, v in net.state_dict().items()})
        if t % sp.round_length == 0 and t // sp.round_length <= sp.rounds:
            dens.append(sp.density())
            # rewound: every parameter is back at its rewind-step value (masked weights at 0)
            for k, v in net.state_dict().items():
                m = sp.masks.masks.get(k)
                expect = saved[k] if m is None else saved[k] * m
                assert torch.equal(v, expect), (k, t)

    run_steps(net, opt, sp, *data, T, callback=check)
    n = sp.masks.numel()
    assert [round(d * n) for d in dens] == [round(0.8 ** k * n) for k in range(1, 11)] + [round(0.1 * n)]
    assert [e["round"] for e in sp.events] == list(range(1, 12))
    # the LR schedule restarts every round; the last round takes the leftover steps
    assert sp.schedule_position(0) == (0, 10) and sp.schedule_position(15) == (5, 10)
    assert sp.schedule_position(125) == (15, 20)


def test_same_seed_same_bytes(data):
    def final(seed):
        net, opt, sp = setup("granet", 0.9, seed=seed, total_steps=40, delta_t=10)
        run_steps(net, opt, sp, *data, 40)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    assert torch.equal(final(0), final(0))
    assert not torch.equal(final(0), final(1))


def test_sparsifier_state_dict_round_trip(data):
    net, opt, sp = setup("granet", 0.9, total_steps=60, delta_t=10)
    run_steps(net, opt, sp, *data, 35)
    state = sp.state_dict()
    net2, opt2, sp2 = setup("granet", 0.9, total_steps=60, delta_t=10, seed=0)
    net2.load_state_dict(net.state_dict())
    sp2.load_state_dict(state)
    assert sp2.t == 35 and sp2.events == sp.events
    assert all(torch.equal(sp.masks.masks[n], sp2.masks.masks[n]) for n in sp.masks.names)
    with pytest.raises(InputError, match="from method 'granet'"):
        setup("rigl", 0.9, total_steps=60)[2].load_state_dict(state)


# ----------------------------------------------------------------------------- errors


def test_step_before_optimizer_step_is_readable_error(data):
    X, y = data
    net, opt, sp = setup("granet", 0.9, total_steps=10, delta_t=1)
    with pytest.raises(InputError, match=r"optimizer has not stepped.*optimizer.step\(\) → sparsifier.step\(\)"):
        sp.step()
    nn.functional.cross_entropy(net(X[:8]), y[:8]).backward()
    opt.step()
    sp.step()
    with pytest.raises(InputError, match="optimizer has not stepped"):
        sp.step()  # twice for one optimizer step


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_before_step_is_readable_error(data, set_to_none):
    X, y = data
    net, opt, sp = setup("rigl", 0.9, total_steps=10, delta_t=1)
    nn.functional.cross_entropy(net(X[:8]), y[:8]).backward()
    opt.step()
    opt.zero_grad(set_to_none=set_to_none)
    with pytest.raises(InputError, match="zero_grad|no gradient"):
        sp.step()


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_sparsity_outside_range_is_config_error(data, method, bad):
    with pytest.raises(ConfigError, match=r"in \[0, 1\)"):
        setup(method, bad, total_steps=100, data=data)


@pytest.mark.parametrize("method", list(METHODS))
def test_filter_matching_nothing_names_the_filter(data, method):
    with pytest.raises(ConfigError, match=r"include=\['conv\*'\]"):
        setup(method, 0.5, total_steps=100, data=data, include="conv*")


def test_no_prunable_layers(data):
    net = nn.Sequential(nn.ReLU())
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ConfigError, match="no prunable layers"):
        make_sparsifier("rigl", net, opt, 0.5, total_steps=10)


def test_configuration_errors(data):
    with pytest.raises(ConfigError, match="unknown sparse method 'granett'"):
        setup("granett", 0.9)
    with pytest.raises(ConfigError, match="needs total_steps"):
        setup("gmp", 0.9)
    with pytest.raises(ConfigError, match="ends before it starts"):
        setup("granet", 0.9, total_steps=100, t_start=50, t_end=20)
    with pytest.raises(ConfigError, match="after the end of training"):
        setup("gmp", 0.9, total_steps=100, t_end=200)
    with pytest.raises(ConfigError, match="rewind_step"):
        setup("lth", 0.9, total_steps=120, rewind_step=50)
    with pytest.raises(ConfigError, match="cannot hold 12"):
        setup("lth", 0.9, total_steps=5)
    with pytest.raises(ConfigError, match="does not take delta_t"):
        setup("random", 0.9, delta_t=10)
    bare = lenet300(dim=DIM)
    with pytest.raises(ConfigError, match="SNIP needs batch"):
        make_sparsifier("snip", bare, torch.optim.SGD(bare.parameters(), lr=0.1), 0.9)
    net = lenet300(dim=DIM)
    other = torch.optim.SGD(lenet300(dim=DIM).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="optimizer does not train"):
        make_sparsifier("rigl", net, other, 0.9, total_steps=10)


def test_training_loss_decreases(data):
    net, opt, sp = setup("granet", 0.9, total_steps=150, delta_t=10)
    losses = run_steps(net, opt, sp, *data, 150)
    assert sum(losses[-15:]) / 15 < 0.5 * sum(losses[:15]) / 15
    assert sp.density() == pytest.approx(0.1, abs=1e-4)


@pytest.mark.parametrize("method", ["random", "rigl", "set", "granet_s2s"])
def test_rescale_init_scales_survivors_by_inverse_sqrt_density(method):
    a = setup(method, 0.9, total_steps=100)
    b = setup(method, 0.9, total_steps=100, rescale_init=True)
    for n in a[2].masks.names:
        ma, mb = a[2].masks.masks[n], b[2].masks.masks[n]
        assert torch.equal(ma, mb)  # same seed, same masks
        wa, wb = a[0].get_parameter(n), b[0].get_parameter(n)
        factor = (ma.numel() / int(ma.sum())) ** 0.5
        assert torch.allclose(wb[mb], wa[ma] * factor)
        assert torch.all(wb[~mb] == 0)
    with pytest.raises(ConfigError, match="sparse start only"):
        setup("granet", 0.9, total_steps=100, rescale_init=True)
