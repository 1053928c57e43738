"""LSH buckets → candidate pairs → verified near-duplicate pairs → which document is removed.

One band at a time, the bucket keys of the live documents are sorted; every run of equal keys
(a bucket holding several documents) gives candidate pairs: each member with the bucket's first
member and with the member before it, and every pair of a bucket of at most ``ALL_PAIRS`` members.
Within each connected component of the candidate graph of at most ``ALL_PAIRS`` documents, every
pair becomes a candidate too (what a union-find clustering of collisions would put together).
A candidate pair is *verified* when its estimated Jaccard similarity (the fraction of equal
signature values) is at least ``min_jaccard``. Verification is what datatrove's MinHash does not
do: a bucket collision alone joins two documents there.

Removal is greedy in corpus order (shard order, then line): a document is removed when it has a
verified pair with an *earlier document that is kept*, and it names the one with the highest
estimate; failing that, when the kept document of one of its removed candidates verifies with it
(a second hop); otherwise it is kept. So every removed document points at a kept one, with its estimate,
and the kept documents hold no verified pair between them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

ALL_PAIRS = 16


def bucket_pairs(keys: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Candidate pairs ``(P, 2)`` int64 (``i < j``, global document indices) from one band's keys
    ``(N,)`` restricted to the indices ``live`` (ascending)."""
    k = keys[live]
    order = np.argsort(k, kind="stable")  # equal keys stay in corpus order
    ks = k[order]
    members = live[order]
    same = ks[1:] == ks[:-1]
    if not same.any():
        return np.empty((0, 2), dtype=np.int64)
    # runs of equal keys: start positions and lengths
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    lengths = np.diff(np.append(starts, len(ks)))
    multi = lengths > 1
    starts, lengths = starts[multi], lengths[multi]
    run_of = np.repeat(np.arange(len(starts)), lengths)
    pos = np.repeat(starts, lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    first = members[starts[run_of]]
    cur = members[pos]
    not_first = pos != starts[run_of]
    star = np.stack([first[not_first], cur[not_first]], axis=1)
    chain = np.stack([members[pos[not_first] - 1], cur[not_first]], axis=1)
    out = [star, chain]
    for s, n in zip(starts[(lengths > 2) & (lengths <= ALL_PAIRS)], lengths[(lengths > 2) & (lengths <= ALL_PAIRS)]):
        m = members[s : s + n]
        a, b = np.triu_indices(n, 1)
        out.append(np.stack([m[a], m[b]], axis=1))
    return np.concatenate(out)


def close_components(pairs: np.ndarray, cap: int = ALL_PAIRS) -> np.ndarray:
    """Candidate pairs plus every pair inside each connected component of the candidate graph of
    at most ``cap`` documents: whatever a union-find clustering of bucket collisions (datatrove's)
    would put together is compared, pair by pair, and verified."""
    if not len(pairs):
        return pairs
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for x in np.unique(pairs).tolist():
        groups.setdefault(find(x), []).append(x)
    out = [pairs]
    for members in groups.values():
        if 2 < len(members) <= cap:
            m = np.asarray(members, dtype=np.int64)
            a, b = np.triu_indices(len(m), 1)
            out.append(np.stack([m[a], m[b]], axis=1))
    return np.concatenate(out)


def unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Distinct pairs, sorted by ``(j, i)``."""
    if not len(pairs):
        return pairs.reshape(0, 2)
    lo = np.minimum(pairs[:, 0], pairs[:, 1])
    hi = np.maximum(pairs[:, 0], pairs[:, 1])
    code = np.unique(hi.astype(np.int64) * n + lo)
    return np.stack([code % n, code // n], axis=1)


def greedy_removal(pairs: np.ndarray, estimate: np.ndarray, n: int, alive: np.ndarray, min_jaccard: float,
                   estimate_of: Callable[[int, int], float]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs ``(i < j)`` with their estimates → ``(duplicate_of (n,) int64 (-1 = kept),
    estimate of that pair (n,) float32, NaN when kept)``. Only documents in ``alive`` take part
    (the others were removed by an earlier stage).

    Document ``j`` is removed for the kept ``i`` of its verified pairs with the highest estimate;
    when all its candidates ``i`` were removed, for the best of their kept documents whose
    estimate with ``j`` (``estimate_of(j, kept)``) reaches ``min_jaccard`` — the second hop finds
    what datatrove's clustering finds through chains, but verified."""
    dup = np.full(n, -1, dtype=np.int64)
    est = np.full(n, np.nan, dtype=np.float32)
    if not len(pairs):
        return dup, est
    ok = alive[pairs[:, 0]] & alive[pairs[:, 1]]
    pairs, estimate = pairs[ok], estimate[ok]
    order = np.lexsort((-estimate, pairs[:, 1]))  # by j, then estimate descending
    I = pairs[order, 0].tolist()
    J = pairs[order, 1].tolist()
    E = estimate[order].tolist()
    k, m = 0, len(J)
    while k < m:
        j = J[k]
        stop = k
        while stop < m and J[stop] == j:
            stop += 1
        best, best_e = -1, -1.0
        for t in range(k, stop):  # direct: the first kept i (estimates descending)
            if dup[I[t]] < 0 and E[t] >= min_jaccard:
                best, best_e = I[t], E[t]
                break
        if best < 0:  # second hop: the kept documents of removed candidates
            for t in range(k, stop):
                r = int(dup[I[t]])
                if r >= 0:
                    e = estimate_of(j, r)
                    if e >= min_jaccard and e > best_e:
                        best, best_e = r, e
        if best >= 0:
            dup[j], est[j] = best, best_e
        k = stop
    return dup, est
