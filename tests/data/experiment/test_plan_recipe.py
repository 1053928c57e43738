"""The planner states the recipe it trained with — only settings that take effect: a user's
factory has no built-in width/depth and AdamW no momentum (the penbased plan printed "width 1,
depth 2, … momentum 0.9" for a factory model trained with AdamW)."""

from __future__ import annotations

from prunekit.data.experiment.recommend import plan_recipe


def test_factory_and_adamw_recipe_states_no_builtin_settings():
    r = plan_recipe({"model": "nets:make", "width": 1, "depth": 2, "optimizer": "adamw", "momentum": 0.9,
                     "lr": 0.003, "weight_decay": 0.05, "epochs": 8})
    assert "width" not in r and "depth" not in r and "momentum" not in r
    assert r == {"model": "nets:make", "optimizer": "adamw", "lr": 0.003, "weight_decay": 0.05, "epochs": 8}


def test_builtin_sgd_recipe_keeps_its_settings():
    r = plan_recipe({"model": "mlp", "width": 2, "depth": 3, "optimizer": "sgd", "momentum": 0.9, "epochs": 10})
    assert r == {"model": "mlp", "width": 2, "depth": 3, "optimizer": "sgd", "momentum": 0.9, "epochs": 10}
