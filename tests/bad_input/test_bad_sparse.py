"""Bad input to ``prunekit sparse …``: exit 2, one ``error:`` line naming the problem, no traceback,
nothing written, the checkpoint byte-identical (see ``_bad_input_harness``). The store
(``ctx.sparse``) holds ``ck.pt``: LeNet-300-100 on digits (fc1 300×64, fc2 100×300, fc3 10×100),
trained one epoch. Classes: 1 output naming an input, 6 messages naming the real problem, 7 hostile
input."""

from __future__ import annotations

import pytest

from _bad_input_harness import Case, hardlink, mkdir, params, run_case, symlink, write

REFUSE = "refusing to write"
CK = lambda c: c.sparse / "ck.pt"  # noqa: E731
T = lambda rel: (lambda c: c.tmp / rel)  # noqa: E731


def cmd(*parts):
    return lambda c: [p(c) if callable(p) else p for p in parts]


def report(ck=CK, *opts):
    return cmd("sparse", "report", ck, *opts)


def train(*opts, out="x.pt"):
    return cmd("sparse", "train", "-q", "--data", "digits", "--epochs", "1", *opts, "-o", out)




def edited_ck(edit):
    """Setup: ``ctx.tmp/e.pt`` = the store's checkpoint with ``edit(payload)`` applied."""
    def setup(c):
        import torch

        payload = torch.load(CK(c), map_location="cpu", weights_only=True)
        edit(payload)
        torch.save(payload, c.tmp / "e.pt")
    return setup


def _wrong_weight(p):
    import torch

    p["state_dict"]["fc2.weight"] = torch.zeros(100, 299)


def _wrong_mask(p):
    import torch

    p["masks"]["masks"]["fc2.weight"] = torch.ones(100, 299, dtype=torch.bool)


def _no_method(p):
    p["config"].pop("method")






SHAPE_OK = ("[100, 300]", "(100, 300)", "100×300", "100x300")
SHAPE_BAD = ("[100, 299]", "(100, 299)", "100×299", "100x299")

CASES = [
    # --- 1: an output naming an input
    Case(1, "report-png-is-the-checkpoint", report(CK, "--png", CK), (REFUSE, CK)),
    Case(1, "report-png-symlink-to-checkpoint", report(CK, "--png", T("r.png")), (REFUSE, T("r.png"), CK),
         setup=symlink("r.png", CK)),
    Case(1, "report-png-hardlink-to-checkpoint", report(CK, "--png", T("r.png")), (REFUSE, T("r.png"), CK),
         setup=hardlink("r.png", CK)),

    # --- 6: messages naming the real problem
    Case(6, "report-empty-checkpoint", report(T("z.pt")), ("empty", T("z.pt")), setup=write("z.pt")),
    Case(6, "report-truncated-checkpoint", report(T("t.pt")),
         (T("t.pt"), ("truncated", "corrupt", "not a prunekit checkpoint")),
         setup=write("t.pt", copy_of=CK, head=0.5)),
    Case(6, "report-text-as-checkpoint", report(T("t.pt")), (T("t.pt"), "not a prunekit checkpoint"),
         setup=write("t.pt", "id,label\n1,2\n")),
    Case(6, "report-wrong-shaped-weight", report(T("e.pt")), ("fc2", SHAPE_OK, SHAPE_BAD),
         setup=edited_ck(_wrong_weight)),
    Case(6, "report-wrong-shaped-mask", report(T("e.pt")), ("fc2", SHAPE_OK, SHAPE_BAD),
         setup=edited_ck(_wrong_mask)),
    Case(6, "report-not-a-sparse-checkpoint", report(T("e.pt")), (T("e.pt"), "sparse"),
         setup=edited_ck(_no_method)),

    # --- 7: hostile input
    Case(7, "train-sparsity-1", train("--sparsity", "1.0"), ("sparsity", "1")),
    Case(7, "train-sparsity-negative", train("--sparsity", "-0.5"), ("sparsity", "-0.5")),
    Case(7, "train-sparsity-nan", train("--sparsity", "nan"), ("sparsity", "nan")),
    Case(7, "train-sparsity-1.5", train("--sparsity", "1.5"), ("sparsity", "1.5")),
    Case(7, "train-epochs-0", cmd("sparse", "train", "--data", "digits", "--epochs", "0", "-o", "x.pt"),
         ("epochs", "0")),
    Case(7, "train-epochs-negative", cmd("sparse", "train", "--data", "digits", "--epochs", "-1", "-o", "x.pt"),
         ("epochs", "-1")),
    Case(7, "train-lr-nan", train("--lr", "nan"), ("lr", "nan")),
    Case(7, "train-lr-0", train("--lr", "0"), ("lr", "0")),
    Case(7, "train-lr-inf", train("--lr", "inf"), ("lr", "inf")),
    Case(7, "train-batch-size-0", train("--batch-size", "0"), ("batch_size", "0")),
    Case(7, "train-delta-t-0", train("--delta-t", "0"), ("delta_t", "0")),
    Case(7, "train-unknown-method", train("--method", "prune_everything"), ("prune_everything",)),
    Case(7, "train-unknown-model", train("--model", "resnet9000"), ("resnet9000",)),
    Case(7, "train-unknown-data", cmd("sparse", "train", "--data", "cifar99", "-o", "x.pt"), ("cifar99",)),
    Case(7, "train-unknown-device", train("--device", "tpu9"), ("tpu9",)),
    Case(7, "train-out-parent-missing", train(out="nodir/x.pt"), ("nodir", "does not exist")),
    Case(7, "train-out-is-a-directory", train(out="adir"), ("adir", "directory"), setup=mkdir("adir")),
    Case(7, "train-out-read-only-folder", train(out="ro/x.pt"), ("ro", "not writable"),
         setup=mkdir("ro", 0o555), root_only_skip=True),
    Case(7, "report-missing-checkpoint", report(T("missing.pt")), (T("missing.pt"), "does not exist")),
    Case(7, "report-directory-as-checkpoint", report(T("adir")), (T("adir"), "directory"), setup=mkdir("adir")),
    Case(7, "report-png-parent-missing", report(CK, "--png", "nodir/r.png"), ("nodir", "does not exist")),
    Case(7, "report-png-is-a-directory", report(CK, "--png", T("adir")), (T("adir"), "directory"),
         setup=mkdir("adir")),
    Case(7, "unicode-missing-checkpoint-path-intact", report(T("mödèl dïr/chëck point.pt")),
         (T("mödèl dïr/chëck point.pt"),), setup=mkdir("mödèl dïr")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_sparse_input(case, ctx, ck_store, capsys):
    ctx.stores["sparse"] = ck_store.root
    run_case(case, ctx, capsys, [ck_store])
