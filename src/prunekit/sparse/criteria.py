"""Which weights to keep, drop and regrow: pure tensor functions (no state, no optimizer).

Every function returns *new* bool masks (``True`` = kept) and never changes its inputs. Counts are
exact; ties at a threshold go to the lower flat index (CPU) — deterministic for a given input.

Algorithm and parameters: docs/ALGORITHMS.md §5.4.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Mapping

from prunekit.errors import ConfigError, InputError, require

__all__ = ["topk_mask", "global_magnitude_masks", "layer_magnitude_mask", "drop_and_regrow", "snip_masks",
           "layer_floor", "floor_count", "kept_count", "check_floor_reachable"]


def _torch():
    return require("torch", "torch")


def _largest_k_cpu(flat, k: int, cand=None):
    """Bool (n,) tensor marking the k largest entries of a CPU float tensor (among ``cand``).

    numpy end to end: an O(n) selection of the threshold (introselect) on the candidates' values
    only, then an exact count with ties taken in index order. On one CPU thread this is ~1-3 ms for
    266k values whatever k, where ``torch.topk`` takes 10-40 ms for large k and ``torch.nonzero``
    alone ~1 ms; filling non-candidates with -inf instead of compressing makes introselect ~20x
    slower (long runs of equal values).
    """
    import numpy as np

    torch = _torch()
    a = flat.numpy()
    c = None if cand is None else cand.numpy()
    pre = _prefilter(a, c, k)
    if pre is not None:
        idx, vals = pre, a[pre]
    elif c is None:
        idx, vals = None, a
    else:
        idx = np.flatnonzero(c)
        vals = a[idx]
    m = vals.size
    thr = np.partition(vals, m - k)[m - k]  # the k-th largest value
    sel = vals > thr
    need = k - int(np.count_nonzero(sel))
    if need > 0:
        sel[np.flatnonzero(vals == thr)[:need]] = True
    if idx is None:
        return torch.from_numpy(sel)
    out = np.zeros(a.size, dtype=bool)
    out[idx[sel]] = True
    return torch.from_numpy(out)


_SAMPLE = 4096


def _prefilter(a, c, k: int):
    """Sorted positions of a superset of the k largest candidates, or None.

    When k is a small share of a large array (regrowth picks a few thousand of ~250k inactive
    positions), a strided sample's quantile gives a threshold ``q`` that about 1.5·k + 64 candidates
    reach; one comparison pass keeps those, and the exact selection runs on them alone. The answer
    is unchanged: every value at or above the k-th largest (ties included) is ≥ q whenever at least
    k candidates are, which is checked — otherwise None and the caller selects on everything.
    """
    import numpy as np

    n = a.size
    if n < 8 * _SAMPLE or k > n // 8:
        return None
    step = n // _SAMPLE
    sample = a[::step] if c is None else a[::step][c[::step]]
    n_cand = n if c is None else int(np.count_nonzero(c))
    if sample.size < _SAMPLE // 4 or k > n_cand // 8:
        return None
    want = 1.5 * k + 64                         # candidates expected above q
    rank = int(sample.size * (1.0 - want / n_cand))
    if rank <= 0:
        return None
    q = np.partition(sample, rank)[rank]
    keep = a >= q
    if c is not None:
        keep &= c
    pre = np.flatnonzero(keep)
    return pre if pre.size >= k else None


def topk_mask(scores, k: int, *, candidates=None):
    """Bool mask of the ``k`` largest ``scores`` (any shape); ``candidates`` (bool, same shape)
    restricts the choice. Raises ``InputError`` if fewer than ``k`` candidates exist.

    Exact count; ties at the threshold go to the lower flat index on CPU (``torch.topk``'s choice
    on GPU).
    """
    torch = _torch()
    flat = scores.detach().reshape(-1)
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    n = flat.numel()
    cand = None if candidates is None else candidates.reshape(-1)
    n_cand = n if cand is None else int(torch.count_nonzero(cand))
    k = int(k)
    if k < 0 or k > n_cand:
        raise InputError(f"cannot choose {k} weights among {n_cand} candidates")
    if k == n_cand:
        out = torch.ones(n, dtype=torch.bool, device=flat.device) if cand is None else cand.clone()
    elif k == 0:
        out = torch.zeros(n, dtype=torch.bool, device=flat.device)
    elif flat.device.type == "cpu":
        out = _largest_k_cpu(flat.contiguous(), k, None if cand is None else cand.contiguous())
    else:
        s = flat if cand is None else torch.where(cand, flat, torch.full_like(flat, -float("inf")))
        out = torch.zeros(n, dtype=torch.bool, device=flat.device)
        out[torch.topk(s, k, largest=True, sorted=False).indices] = True
    return out.reshape(scores.shape)


def layer_floor(shape) -> int:
    """Fewest weights a globally pruned layer keeps: one per output unit — ``shape[0]`` (the rows of
    a Linear weight, the output channels of a conv); 1 for a 1-D tensor. Below it some unit of the
    layer necessarily receives no input (its output is a constant); at 0 the layer cuts the network
    in two and the model predicts one class whatever the input."""
    shape = tuple(shape)
    return int(shape[0]) if len(shape) >= 2 else 1


def floor_count(shapes: Mapping[str, object]) -> int:
    """The per-layer floors summed over ``{name: shape}``: the fewest weights global selection keeps."""
    return sum(layer_floor(s) for s in shapes.values())


def kept_count(density: float, numel: int) -> int:
    """Weights kept at ``density`` out of ``numel``: ``round(density · numel)`` (one rounding for all)."""
    return int(round(float(density) * int(numel)))


def check_floor_reachable(shapes: Mapping[str, object], sparsity: float, method: str = "global pruning") -> None:
    """Refuse, before any work, a ``sparsity`` that global selection cannot reach while every layer
    keeps its floor (:func:`layer_floor`). ``ConfigError`` names the target, the floor and the
    highest reachable sparsity."""
    numel = sum(math.prod(tuple(s)) for s in shapes.values())
    floor = floor_count(shapes)
    if kept_count(1.0 - sparsity, numel) >= floor:
        return
    reachable = math.floor((1.0 - floor / numel) * 1e4) / 1e4  # rounded down: that value does work
    raise ConfigError(f"sparsity {sparsity} is out of reach for {method} on this model: each globally pruned layer "
                      f"keeps at least one weight per output unit, a floor of {floor:,} of the {numel:,} "
                      f"sparsified weights; the highest reachable sparsity is {reachable}")


def _floor_reserve(score, mask, floor: int):
    """The ``floor`` weights (clamped to the active count) a layer held at its floor keeps: the
    best-scoring active weight of every output unit (row) first, then the layer's next best — so a
    layer at its floor feeds each unit that still has a weight."""
    torch = _torch()
    rows = score.reshape(score.shape[0], -1) if score.dim() >= 2 else score.reshape(1, -1)
    act = mask.reshape(rows.shape)
    best = torch.where(act, rows, torch.full_like(rows, -float("inf"))).argmax(dim=1)
    has = act.any(dim=1)
    res = torch.zeros_like(act)
    res[torch.arange(rows.shape[0], device=rows.device)[has], best[has]] = True
    res = res.reshape(-1)
    need = min(floor, int(torch.count_nonzero(act))) - int(torch.count_nonzero(res))
    if need > 0:
        res |= topk_mask(rows.reshape(-1), need, candidates=act.reshape(-1) & ~res)
    return res.reshape(mask.shape)


def global_magnitude_masks(weights: Mapping[str, object], masks: Mapping[str, object], k: int):
    """Keep the ``k`` largest ``|w|`` among the currently active weights of all layers together,
    no layer going below its floor (:func:`layer_floor`: one weight per output unit).

    ``weights``/``masks``: ``{name: tensor}`` with equal shapes. ``k`` is clamped to the number
    of active weights: pruning never re-activates a weight. One threshold over all layers, except
    that a layer it would leave with fewer than its floor is held at the floor (the best active
    weight of each output unit, see :func:`_floor_reserve`; all its active weights if it has fewer)
    and the threshold is re-solved over the other layers, until no other layer falls short. When no
    layer falls short this is the plain global top-k. The count is exact; ``InputError`` if ``k``
    cannot cover the floors. This is the one global selection: magnitude, GMP, GraNet, the lottery
    ticket and SNIP all go through it. Returns ``{name: bool mask}``.
    """
    torch = _torch()
    names = list(masks)
    dev = masks[names[0]].device  # one device for the global ranking (the first layer's)
    scores = {n: weights[n].detach().abs().float().to(masks[n].device) for n in names}
    active = {n: int(torch.count_nonzero(masks[n])) for n in names}
    floor = {n: min(layer_floor(masks[n].shape), active[n]) for n in names}
    k = min(int(k), sum(active.values()))
    if k < sum(floor.values()):
        raise InputError(f"cannot keep {k:,} weights: the per-layer floors (one weight per output unit) need "
                         f"{sum(floor.values()):,} of the {sum(m.numel() for m in masks.values()):,}")
    held: dict = {}  # layers held at their floor: name -> reserved mask
    while True:
        free = [n for n in names if n not in held]
        n_held = sum(floor[n] for n in held)
        out = OrderedDict((n, held[n]) for n in held)
        if free:
            flat = torch.cat([scores[n].reshape(-1).to(dev) for n in free])
            cand = torch.cat([masks[n].reshape(-1).to(dev) for n in free])
            keep, i = topk_mask(flat, k - n_held, candidates=cand), 0
            for n in free:
                m = masks[n]
                out[n] = keep[i:i + m.numel()].reshape(m.shape).to(m.device)
                i += m.numel()
        short = [n for n in free if int(torch.count_nonzero(out[n])) < floor[n]]
        if not short:
            return OrderedDict((n, out[n]) for n in names)
        for n in short:
            held[n] = _floor_reserve(scores[n], masks[n], floor[n])


def layer_magnitude_mask(weight, mask, k: int):
    """Keep the ``k`` largest ``|w|`` among the active weights of one layer (``k`` clamped)."""
    torch = _torch()
    k = min(int(k), int(torch.count_nonzero(mask)))
    return topk_mask(weight.detach().abs(), k, candidates=mask)


def drop_and_regrow(weight, mask, n: int, *, grad=None, generator=None):
    """Drop the ``n`` active weights with the smallest ``|w|``, then activate ``n`` inactive positions:
    the largest ``|grad|`` if ``grad`` is given (RigL/GraNet), else uniformly at random from
    ``generator`` (SET). The layer's number of active weights is unchanged.

    Candidates for regrowth are all positions inactive *after* the drop (a just-dropped weight can
    come back; it then keeps its value, being net unchanged). ``n`` is clamped to the active count.

    Returns ``(new_mask, dropped, grown)``: bool tensors of the weight's shape; ``dropped`` are the
    positions turned off for good, ``grown`` those newly active (they were inactive before).
    """
    torch = _torch()
    n_active = int(torch.count_nonzero(mask))
    n = max(0, min(int(n), n_active))
    if n == 0 or n_active == mask.numel():
        # A dense layer has no inactive position but the n just dropped, so regrowth would take
        # exactly those back: the mask cannot change (skipping saves two large top-k's).
        z = torch.zeros_like(mask)
        return mask.clone(), z, z.clone()
    # Drop: the n smallest |w| among active = the complement of the (active - n) largest.
    kept = topk_mask(weight.detach().abs(), n_active - n, candidates=mask)
    free = ~kept
    if grad is not None:
        if grad.shape != weight.shape:
            raise InputError(f"gradient shape {tuple(grad.shape)} does not match the weight {tuple(weight.shape)}")
        score = grad.detach().abs()
    else:
        score = torch.rand(weight.shape, generator=generator).to(weight.device)
    grow = topk_mask(score, n, candidates=free)
    new_mask = kept | grow
    return new_mask, mask & ~new_mask, new_mask & ~mask


def snip_masks(weights: Mapping[str, object], grads: Mapping[str, object], k: int):
    """SNIP (Lee et al. 2019): keep the ``k`` largest connection sensitivities ``|g ⊙ w|`` over all
    layers together, each layer keeping its floor (:func:`global_magnitude_masks` on the
    sensitivities). ``grads`` are the gradients of the loss on one batch at initialisation."""
    torch = _torch()
    names = list(weights)
    scores = OrderedDict()
    for n in names:
        g = grads.get(n)
        if g is None:
            raise InputError(f"SNIP needs a gradient for {n}; it got none (is the layer used in forward?)")
        scores[n] = (g.detach() * weights[n].detach()).abs()
    ones = OrderedDict((n, torch.ones_like(weights[n], dtype=torch.bool)) for n in names)
    return global_magnitude_masks(scores, ones, k)
