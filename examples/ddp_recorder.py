"""Training-dynamics scores from DistributedDataParallel training (docs/TRAINING.md).

Each process records the examples of its own DistributedSampler shard; the records are merged by
example index into exactly the record one process would have made. Run on CPU with two processes:

    torchrun --standalone --nproc_per_node=2 examples/ddp_recorder.py --epochs 5 --out ddp-records

Rank 0 prints the merged scores; every rank also writes ``rank<r>.npz``, to merge later with
``Recorder.merge_files`` (no process group needed then).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from prunekit.data.scores.dynamics import Recorder, aum, el2n, forgetting
from prunekit.datasets import load_digits


def train(rank: int, world: int, out: str, epochs: int = 5, init_method: str = "env://",
          log_batches: bool = False, data: tuple | None = None) -> None:
    """One process of the training, on the digits training split (or ``data`` = (X, y, classes)).
    ``log_batches`` also writes each batch's (epoch, indices, logits, labels) to ``batches<r>.pt``
    (the tests replay them into a single Recorder)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world)
    try:
        if data is None:
            ds = load_digits()
            data = (ds.X_train, ds.y_train, len(ds.label_names))
        X, y, n_classes = torch.tensor(data[0]), torch.tensor(data[1]), int(data[2])
        n = len(y)
        rows = TensorDataset(X, y, torch.arange(n))  # the row number travels with each example
        sampler = DistributedSampler(rows, num_replicas=world, rank=rank, shuffle=True, seed=0)
        loader = DataLoader(rows, batch_size=64, sampler=sampler)
        torch.manual_seed(0)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
        model = DDP(nn.Sequential(nn.Linear(X.shape[1], 32), nn.ReLU(), nn.Linear(32, n_classes)))
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)

        rec = Recorder(n, n_classes)
        batches = []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)  # a new shuffle (and a new split across ranks) every epoch
            for xb, yb, idx in loader:
                logits = model(xb)
                rec.record(idx, logits, yb, epoch)  # this rank's examples only
                if log_batches:
                    batches.append((epoch, idx, logits.detach().clone(), yb))
                opt.zero_grad()
                F.cross_entropy(logits, yb).backward()
                opt.step()

        Path(out).mkdir(parents=True, exist_ok=True)
        rec.save(Path(out) / f"rank{rank}.npz")  # for Recorder.merge_files later
        if log_batches:
            torch.save(batches, Path(out) / f"batches{rank}.pt")
        merged = rec.all_gather()  # collective: every rank receives the merged record
        if rank == 0:
            merged.save(Path(out) / "merged.npz")
            scores, never = forgetting(merged)
            print(f"{n} examples, {merged.n_epochs} epochs, {int(merged.n_presentations.sum())} "
                  f"presentations over {world} processes")
            print("hardest by AUM:", np.argsort(-aum(merged))[:10].tolist())
            print(f"mean EL2N at the last epoch: {np.nanmean(el2n(merged, epochs - 1)):.4f}")
            print(f"examples with forgetting events: {int((scores > 0).sum())}; never learned: {never}")
        # every rank reaches the teardown together: a rank that tears gloo down while its peer still
        # works can abort in gloo's threads ("terminate called without an active exception")
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="ddp-records")
    args = ap.parse_args()
    # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
    train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args.out, args.epochs)
