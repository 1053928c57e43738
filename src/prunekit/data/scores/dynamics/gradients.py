"""Per-example gradient norms of a model: GraNd over all trainable parameters (exact, batched) and
its cheaper last-layer restriction — a different score. Both are **difficulties**, (N,) float64:

===========================  ==================================================================
function                     score (per example)
===========================  ==================================================================
``grand(model, X, y)``       ``||∇_w ℓ(f_w(x), y)||₂`` over all trainable parameters (§1.2);
                             exact, batched: per-layer factored norms or torch.func ``vmap(grad)``
``grand_last_layer``         the same restricted to the last linear layer — a different score
``grand_reference``          GraNd by a per-example autograd loop (slow; tests and benchmarks)
===========================  ==================================================================

Algorithm and parameters: docs/ALGORITHMS.md §1.2.
"""

from __future__ import annotations

import numpy as np

from prunekit.data.scores.dynamics._inputs import as_int_vector, is_int, load_torch, to_numpy_1d
from prunekit.errors import ConfigError, InputError

def _check_model(model) -> None:
    torch = load_torch()
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _model_device(model):
    torch = load_torch()
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _inputs(model, X, y):
    """X as a float tensor and y as int64 on the model's device, validated."""
    torch = load_torch()
    dev = _model_device(model)
    Xt = X.detach() if hasattr(X, "detach") else torch.from_numpy(np.array(X))
    if Xt.ndim < 2:
        raise InputError(f"X must have a batch dimension (N, ...), got shape {tuple(Xt.shape)}")
    n = int(Xt.shape[0])
    if n == 0:
        raise InputError("no examples: X has 0 rows")
    if not Xt.is_floating_point():
        Xt = Xt.float()
    yn = to_numpy_1d("y", y)
    if len(yn) != n:
        raise InputError(f"y has {len(yn)} entries but X has {n} rows")
    if yn.dtype.kind not in "iu":
        raise InputError(f"y must be integer class labels, got dtype {yn.dtype}")
    if yn.min() < 0:
        raise InputError(f"labels must be >= 0, got {int(yn.min())}")
    return Xt.to(dev), torch.as_tensor(yn.astype(np.int64)).to(dev), n


def _check_classes(logits_c: int, y) -> None:
    hi = int(y.max())
    if hi >= logits_c:
        raise InputError(f"labels must lie in [0, {logits_c}) (the model has {logits_c} outputs); got {hi}")


class _eval_mode:
    """Put a model in eval mode (BatchNorm running statistics, no dropout) and restore its mode."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was_training)
        return False


GRAND_METHODS = ("auto", "factored", "vmap")


def grand(model, X, y, *, batch_size: int = 256, method: str = "auto") -> np.ndarray:
    """GraNd: per-example ``||∇_w CE(f_w(x), y)||₂`` over **all** trainable parameters of ``model``
    (those with ``requires_grad``), in eval mode. Difficulty. (N,) float64.

    ``X`` is what the model's ``forward`` takes, with a leading batch dimension; ``y`` integer
    labels in [0, C); ``batch_size`` examples at a time, never a Python loop over examples. The
    paper averages over several seeds at or near initialisation: call this once per model and
    average. Two exact methods:

    - ``"vmap"``: per-example gradients from ``torch.func`` — ``vmap(grad(loss))`` over
      ``functional_call`` — squared and summed. Works for any model torch.func can trace, but
      materialises every per-example gradient (memory ≈ batch_size × n_parameters × 4 bytes). On a
      CPU this is no faster than a per-example autograd loop for small MLPs/CNNs (see
      ``benchmarks/bench_grand.py``): the per-example weight gradients of a linear layer are outer
      products, written out in full.
    - ``"factored"``: one batched forward and one backward to the layer *outputs* only; each layer's
      per-example squared gradient norm is computed from its input and output gradient without
      forming the gradient where that is cheaper — for a linear layer on (B, d) inputs
      ``||g a^T||² = ||g||²·||a||²`` (Goodfellow 2015); convolutions unfold their input; sequences
      pick the cheaper of materialising or Gram matrices. Supported layers: ``Linear``, ``Conv2d``
      (any padding mode, groups), ``BatchNorm*`` with running statistics, ``LayerNorm``. It needs
      every trainable parameter to sit in one of these, each such layer to be called exactly once
      per forward (no weight sharing), and the examples of a batch not to interact in eval mode.
    - ``"auto"`` (default): ``"factored"`` when the model qualifies and its first examples agree
      with ``grand_reference`` (rtol 1e-3; checked on up to 4 examples, else a warning), otherwise
      ``"vmap"``.
    """
    _check_model(model)
    if not is_int(batch_size) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if method not in GRAND_METHODS:
        raise ConfigError(f"unknown GraNd method {method!r}; valid methods: {', '.join(GRAND_METHODS)}")
    Xt, yt, n = _inputs(model, X, y)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("the model has no trainable parameters (requires_grad is False everywhere)")
    torch = load_torch()
    with _eval_mode(model):
        with torch.no_grad():
            _check_classes(int(model(Xt[:1]).shape[-1]), yt)
        if method in ("auto", "factored"):
            why = _factored_unsupported(model)
            if why is None:
                out = _grand_factored(model, Xt, yt, batch_size)
                if isinstance(out, str):
                    why = out
                elif method == "factored":
                    return out
                else:
                    k = min(n, 4)
                    ref = _grand_loop(model, Xt[:k], yt[:k])
                    if np.allclose(out[:k], ref, rtol=1e-3, atol=1e-12):
                        return out
                    import warnings

                    why = "its factored per-layer norms disagree with autograd on the first examples"
                    warnings.warn(f"grand: {why}; using vmap", RuntimeWarning, stacklevel=2)
            if method == "factored":
                raise ConfigError(f"grand(method='factored') cannot handle this model: {why}")
        return _grand_vmap(model, Xt, yt, batch_size)


def _grand_vmap(model, Xt, yt, batch_size: int) -> np.ndarray:
    torch = load_torch()
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, x, t):
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, t.unsqueeze(0))

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    n = int(Xt.shape[0])
    out = np.empty(n, np.float64)
    for s in range(0, n, batch_size):
        g = per_example(params, Xt[s:s + batch_size], yt[s:s + batch_size])
        sq = sum(v.reshape(v.shape[0], -1).pow(2).sum(dim=1).double() for v in g.values())
        out[s:s + batch_size] = sq.sqrt().cpu().numpy()
    return out


def _factored_unsupported(model) -> str | None:
    """Why the factored method cannot handle ``model`` (None if it can)."""
    torch = load_torch()
    nn = torch.nn
    from torch.nn.modules.batchnorm import _BatchNorm

    ids = [id(p) for _, p in model.named_parameters(remove_duplicate=False)]
    if len(ids) != len(set(ids)):
        return "some parameters are shared between layers"
    for name, mod in model.named_modules():
        own = {k for k, p in mod.named_parameters(recurse=False) if p.requires_grad}
        if not own:
            continue
        label = f"layer {name or '(root)'} ({type(mod).__name__})"
        if not own <= {"weight", "bias"} or not isinstance(mod, (nn.Linear, nn.Conv2d, _BatchNorm, nn.LayerNorm)):
            return f"{label} has parameters the factored method does not know"
        if isinstance(mod, nn.Conv2d) and isinstance(mod.padding, str) and \
                not hasattr(mod, "_reversed_padding_repeated_twice"):
            return f"{label} uses padding={mod.padding!r}"  # pragma: no cover - very old torch
        if isinstance(mod, _BatchNorm) and (mod.running_mean is None or mod.running_var is None):
            return f"{label} has no running statistics (it normalises with batch statistics)"
    return None


def _grand_factored(model, Xt, yt, batch_size: int) -> np.ndarray | str:
    """Per-example gradient norms from layer inputs and output gradients (see ``grand``); a string
    (the reason) if a layer is not called exactly once per forward."""
    torch = load_torch()
    layers = [m for m in model.modules()
              if any(p.requires_grad for p in m.parameters(recurse=False))]
    n = int(Xt.shape[0])
    out = np.empty(n, np.float64)
    for s in range(0, n, batch_size):
        seen: list = []

        def hook(mod, inputs, output):
            seen.append((mod, inputs[0].detach().clone(), output))
            # Downstream layers get a copy, so an in-place op after this layer (ReLU(inplace=True),
            # `out += identity`) cannot change the tensor whose gradient we ask for.
            return output.clone()

        handles = [m.register_forward_hook(hook) for m in layers]
        try:
            with torch.enable_grad():
                logits = model(Xt[s:s + batch_size])
        finally:
            for h in handles:
                h.remove()
        calls = [id(m) for m, _, _ in seen]
        if sorted(calls) != sorted(id(m) for m in layers):
            bad = next(m for m in layers if calls.count(id(m)) != 1)
            return f"layer {type(bad).__name__} is called {calls.count(id(bad))} times per forward"
        # Sum reduction: the gradient of the batch loss at example i's rows is example i's own.
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(logits, yt[s:s + batch_size], reduction="sum")
            grads = torch.autograd.grad(loss, [o for _, _, o in seen], allow_unused=True)
        sq = torch.zeros(logits.shape[0], dtype=torch.float64, device=logits.device)
        for (mod, a, o), g in zip(seen, grads):
            if g is None:  # the layer does not reach the loss: zero gradient
                continue
            sq += _layer_sq_norms(torch, mod, a, g.detach())
        out[s:s + batch_size] = sq.sqrt().cpu().numpy()
    return out


def _layer_sq_norms(torch, mod, a, g):
    """(B,) float64: squared norm of example i's gradient for ``mod``'s trainable parameters, from
    the layer input ``a`` and the gradient ``g`` at its output."""
    nn, F = torch.nn, torch.nn.functional
    from torch.nn.modules.batchnorm import _BatchNorm

    b = a.shape[0]
    w_on = mod.weight is not None and mod.weight.requires_grad
    b_on = getattr(mod, "bias", None) is not None and mod.bias.requires_grad
    zero = torch.zeros(b, dtype=torch.float64, device=g.device)
    if isinstance(mod, nn.Linear):
        if a.ndim == 2:  # rank one: ||g a^T||² = ||g||² ||a||²
            g2 = (g * g).sum(dim=1).double()
            return (g2 * (a * a).sum(dim=1).double() if w_on else zero) + (g2 if b_on else zero)
        a3 = a.reshape(b, -1, a.shape[-1])
        g3 = g.reshape(b, -1, g.shape[-1])
        w = _outer_sum_sq(torch, g3.transpose(1, 2), a3.transpose(1, 2)) if w_on else zero
        bias = (g3.sum(dim=1) ** 2).sum(dim=1).double() if b_on else zero
        return w + bias
    if isinstance(mod, nn.Conv2d):
        if isinstance(mod.padding, str) or mod.padding_mode != "zeros":
            mode = "constant" if mod.padding_mode == "zeros" else mod.padding_mode
            a = F.pad(a, mod._reversed_padding_repeated_twice, mode=mode)
            pad = 0
        else:
            pad = mod.padding
        gr = mod.groups
        A = F.unfold(a, mod.kernel_size, dilation=mod.dilation, padding=pad, stride=mod.stride)
        L = A.shape[-1]
        G = g.reshape(b, g.shape[1], -1)
        w = zero
        if w_on:
            # per group: W_i = G_i A_i^T (Cout/g × Cin/g·k²); the groups are independent blocks
            Ag = A.reshape(b * gr, -1, L)
            Gg = G.reshape(b * gr, -1, L)
            w = _outer_sum_sq(torch, Gg, Ag).reshape(b, gr).sum(dim=1)
        bias = (G.sum(dim=2) ** 2).sum(dim=1).double() if b_on else zero
        return w + bias
    if isinstance(mod, _BatchNorm):
        shape = (1, -1) + (1,) * (a.ndim - 2)
        xhat = (a - mod.running_mean.reshape(shape)) / torch.sqrt(mod.running_var.reshape(shape) + mod.eps)

        def per_channel(t):  # (B, C): summed over positions (sum(dim=[]) would sum everything)
            return t.reshape(b, t.shape[1], -1).sum(dim=2)

        w = (per_channel(g * xhat) ** 2).sum(dim=1).double() if w_on else zero
        bias = (per_channel(g) ** 2).sum(dim=1).double() if b_on else zero
        return w + bias
    if isinstance(mod, nn.LayerNorm):
        k = len(mod.normalized_shape)
        nd = tuple(range(a.ndim - k, a.ndim))
        mu = a.mean(dim=nd, keepdim=True)
        var = a.var(dim=nd, unbiased=False, keepdim=True)
        xhat = (a - mu) / torch.sqrt(var + mod.eps)
        lead = tuple(range(1, a.ndim - k))

        def red(t):  # summed over positions, then squared norm per example
            t = t.sum(dim=lead) if lead else t
            return (t.reshape(b, -1) ** 2).sum(dim=1).double()

        return (red(g * xhat) if w_on else zero) + (red(g) if b_on else zero)
    raise AssertionError(f"unsupported layer {type(mod).__name__}")  # pragma: no cover


def _outer_sum_sq(torch, G, A):
    """(B,) float64 ``||G_i A_i^T||²_F`` for G (B, m, L), A (B, k, L): materialise the (m × k)
    products or use Gram matrices (``Σ (G_i^T G_i) ⊙ (A_i^T A_i)``), whichever costs less."""
    m, k, L = G.shape[1], A.shape[1], G.shape[2]
    if m * k <= L * (m + k):  # cost m·k·L against L²·(m + k)
        W = torch.bmm(G, A.transpose(1, 2))
        return (W * W).sum(dim=(1, 2)).double()
    gg = torch.bmm(G.transpose(1, 2), G)
    aa = torch.bmm(A.transpose(1, 2), A)
    return (gg * aa).sum(dim=(1, 2)).double()


def grand_reference(model, X, y) -> np.ndarray:
    """GraNd by a plain per-example autograd loop (slow; ``grand`` must match it)."""
    torch = load_torch()
    _check_model(model)
    Xt, yt, n = _inputs(model, X, y)
    with _eval_mode(model):
        with torch.no_grad():
            _check_classes(int(model(Xt[:1]).shape[-1]), yt)
        return _grand_loop(model, Xt, yt)


def _grand_loop(model, Xt, yt) -> np.ndarray:
    torch = load_torch()
    params = [v for v in model.parameters() if v.requires_grad]
    out = np.empty(int(Xt.shape[0]), np.float64)
    for i in range(len(out)):
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(model(Xt[i:i + 1]), yt[i:i + 1])
            gs = torch.autograd.grad(loss, params, allow_unused=True)
        out[i] = float(torch.sqrt(sum(g.double().pow(2).sum() for g in gs if g is not None)))
    return out


def grand_last_layer(model_or_features, X_or_outputs, y, *, probs: bool = False, bias: bool = True,
                     batch_size: int = 4096) -> np.ndarray:
    """GraNd restricted to the last linear layer — **a different, cheaper score than** ``grand``.
    Difficulty. (N,) float64.

    With penultimate features h and g = p − e_y, the cross-entropy gradient with respect to the last
    layer is ``[g (bias), g ⊗ h (weights)]``, so its norm is ``||g|| · sqrt(1 + ||h||²)``
    (``||g|| · ||h||`` without a bias).

    Two call forms:

    - ``grand_last_layer(model, X, y)``: the model must expose ``model.features(x)`` (penultimate
      activations, (B, H)) and ``model.head`` (the final ``nn.Linear``, so that
      ``model(x) == model.head(model.features(x))``); ``ConfigError`` otherwise. Runs in eval mode,
      ``batch_size`` rows at a time; ``bias`` is read from the head.
    - ``grand_last_layer(features, logits, y)`` with arrays ``features`` (N, H) and ``logits`` (N, C)
      — or probabilities with ``probs=True``; ``bias`` says whether the layer had one.
    """
    torch = load_torch()
    if isinstance(model_or_features, torch.nn.Module):
        model = model_or_features
        feats = getattr(model, "features", None)
        head = getattr(model, "head", None)
        if not callable(feats) or not isinstance(head, torch.nn.Linear):
            raise ConfigError(
                "grand_last_layer(model, X, y) needs a model with a features(x) method (penultimate "
                "activations) and a head attribute that is the final nn.Linear; "
                f"{type(model).__name__} has "
                f"{'no features method' if not callable(feats) else 'no nn.Linear head'}"
            )
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        Xt, yt, n = _inputs(model, X_or_outputs, y)
        _check_classes(head.out_features, yt)
        out = np.empty(n, np.float64)
        with _eval_mode(model), torch.no_grad():
            for s in range(0, n, batch_size):
                h = feats(Xt[s:s + batch_size])
                h = h.reshape(h.shape[0], -1)
                z = head(h)
                out[s:s + batch_size] = _last_layer_norm(torch, h, z, yt[s:s + batch_size], False,
                                                         head.bias is not None)
        return out
    H = np.asarray(model_or_features.detach().cpu() if hasattr(model_or_features, "detach") else model_or_features)
    Z = np.asarray(X_or_outputs.detach().cpu() if hasattr(X_or_outputs, "detach") else X_or_outputs)
    if H.ndim != 2 or Z.ndim != 2:
        raise InputError(f"features must be (N, H) and logits (N, C); got shapes {H.shape} and {Z.shape}")
    if len(H) != len(Z):
        raise InputError(f"features have {len(H)} rows but logits have {len(Z)}")
    if len(H) == 0:
        raise InputError("no examples: features have 0 rows")
    yn = as_int_vector("y", y, len(Z), Z.shape[1], f"{Z.shape[1]} classes")
    for name, a in (("features", H), ("logits", Z)):
        if a.dtype.kind not in "fiu" or not np.isfinite(a).all():
            raise InputError(f"{name} must be finite numbers")
    if probs and (np.any(Z < 0) or not np.allclose(Z.sum(axis=1), 1.0, atol=1e-4)):
        raise InputError("probs=True but the rows are not probability vectors (non-negative, sum 1)")
    return _last_layer_norm(torch, torch.as_tensor(H, dtype=torch.float64), torch.as_tensor(Z, dtype=torch.float64),
                            torch.as_tensor(yn), probs, bias)


def _last_layer_norm(torch, h, z, y, probs: bool, bias: bool) -> np.ndarray:
    h = h.double()
    p = z.double() if probs else torch.softmax(z.double(), dim=1)
    g = p.scatter_add(1, y.reshape(-1, 1), -torch.ones_like(p[:, :1]))
    hn2 = (h * h).sum(dim=1)
    return (g.norm(dim=1) * torch.sqrt(hn2 + (1.0 if bias else 0.0))).cpu().numpy()
