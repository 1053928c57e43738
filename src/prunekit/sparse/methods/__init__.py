"""Sparse-training methods. Each is a :class:`Sparsifier`: build it on ``(model, optimizer)`` and
call ``sparsifier.step()`` after every ``optimizer.step()`` (before ``zero_grad``).

=================  ==========================================================================
name               method
=================  ==========================================================================
magnitude          one-shot global magnitude pruning at ``prune_step`` + fine-tuning
magnitude_layer    one-shot layer-wise magnitude pruning (same density per layer) + fine-tuning
random             static random masks, ERK layer densities
snip               SNIP: global top-k of |g ⊙ w| on one batch at initialisation (needs ``batch``)
gmp                gradual magnitude pruning, cubic schedule, global
granet             GraNet dense-to-sparse: GMP + gradient regrowth, cosine drop fraction
granet_s2s         GraNet sparse-to-sparse: starts from a random ERK mask at density 0.5
rigl               RigL: ERK, drop by |w|, regrow by |grad|, every 100 steps until 75 %
set                SET: as RigL with random regrowth
lth                lottery ticket: iterative magnitude pruning (20 %/round) with rewinding
=================  ==========================================================================
"""

from __future__ import annotations

from prunekit.errors import ConfigError
from prunekit.sparse.methods.base import ORDER_HINT, Sparsifier
from prunekit.sparse.methods.dst import SET, RigL
from prunekit.sparse.methods.gradual import GMP, GraNet
from prunekit.sparse.methods.lottery import LotteryTicket
from prunekit.sparse.methods.oneshot import OneShotMagnitude
from prunekit.sparse.methods.static import SNIP, StaticRandom

__all__ = ["METHODS", "make_sparsifier", "Sparsifier", "ORDER_HINT", "OneShotMagnitude", "StaticRandom",
           "SNIP", "GMP", "GraNet", "RigL", "SET", "LotteryTicket"]

#: name → (class, fixed keyword arguments)
METHODS = {
    "magnitude": (OneShotMagnitude, {"scope": "global"}),
    "magnitude_layer": (OneShotMagnitude, {"scope": "layer"}),
    "random": (StaticRandom, {"distribution": "erk"}),
    "snip": (SNIP, {}),
    "gmp": (GMP, {}),
    "granet": (GraNet, {"init": "dense"}),
    "granet_s2s": (GraNet, {"init": "erk"}),
    "rigl": (RigL, {}),
    "set": (SET, {}),
    "lth": (LotteryTicket, {}),
}


def make_sparsifier(method: str, model, optimizer, sparsity: float, **kwargs) -> Sparsifier:
    """Build the sparsifier ``method`` (a name of :data:`METHODS`) on ``model`` and ``optimizer``.

    ``kwargs`` go to the method's class (``total_steps``, ``seed``, ``delta_t``, ``batch`` for SNIP,
    ``include``/``exclude``/``dense_first_last``, ...).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown sparse method {method!r}; valid methods: {', '.join(METHODS)}")
    cls, fixed = METHODS[method]
    unknown = set(kwargs) - accepted_options(cls)
    if unknown:
        raise ConfigError(f"method {method!r} does not take {', '.join(sorted(unknown))}; it takes "
                          f"{', '.join(sorted(accepted_options(cls) - set(fixed)))}")
    clash = set(fixed) & set(kwargs)
    if clash:
        raise ConfigError(f"method {method!r} fixes {', '.join(sorted(clash))}; use the class directly to change it")
    return cls(model, optimizer, sparsity, **fixed, **kwargs)


def accepted_options(cls) -> set[str]:
    """Keyword options a sparsifier class accepts (its own and its bases' up to :class:`Sparsifier`)."""
    import inspect

    names: set[str] = set()
    for c in cls.__mro__:
        if "__init__" in c.__dict__:
            for p in inspect.signature(c.__dict__["__init__"]).parameters.values():
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in (
                        "self", "model", "optimizer", "sparsity"):
                    names.add(p.name)
        if c is Sparsifier:
            break
    return names
