"""The Lightning callback is a thin adapter: the same invariants hold inside Trainer.fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparse_helpers import blobs, lenet300

L = pytest.importorskip("lightning.pytorch")


class Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = lenet300(dim=64)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def test_callback_runs_rigl_inside_lightning(tmp_path):
    from prunekit.sparse import SparseCallback

    X, y = blobs(n=256, dim=64, n_classes=10)
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=False)
    cb = SparseCallback("rigl", 0.9, delta_t=4, seed=0)
    model = Module()
    trainer = L.Trainer(max_epochs=2, callbacks=[cb], accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, dl)
    sp = cb.sparsifier
    assert sp.t == 16 and sp.total_steps == 16
    assert sp.density() == pytest.approx(0.1, abs=1e-4)
    # gradients were there at the update steps (Lightning zeroes them at the start of the next
    # step); RigL updates every 4 steps and stops at 75 % of the 16 steps (12, exclusive)
    assert [e["t"] for e in sp.events if e["event"] == "regrow"] == [4, 8]
    assert all(e["moved"] > 0 for e in sp.events if e["event"] == "regrow")
    for n, m in sp.masks.masks.items():
        p = model.get_parameter(n)
        assert torch.all(p[~m] == 0)
        assert torch.all(trainer.optimizers[0].state[p]["momentum_buffer"][~m] == 0)
    state = cb.state_dict()
    assert state["method"] == "rigl" and set(state["masks"]["masks"]) == {"net.fc1.weight", "net.fc2.weight",
                                                                          "net.fc3.weight"}


def test_callback_rejects_bad_config():
    from prunekit.errors import ConfigError
    from prunekit.sparse import SparseCallback

    with pytest.raises(ConfigError):
        SparseCallback("rigl", 1.2)
    with pytest.raises(ConfigError, match="unknown sparse method"):
        SparseCallback("nope", 0.5)
