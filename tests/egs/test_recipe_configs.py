"""Every training YAML a recipe ships loads, and builds its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcsep.model import DeepClustering
from dcsep.train.config import load_train_config

ROOT = Path(__file__).resolve().parents[2]
TRAIN_CONFS = sorted((ROOT / "egs").glob("*/conf/**/train_*.yaml"))


def test_the_recipes_ship_training_configs():
    recipes = {p.relative_to(ROOT / "egs").parts[0] for p in TRAIN_CONFS}
    assert {"speechocean762", "tts_mix", "wsj0_2mix", "wsj0_3mix"} <= recipes


@pytest.mark.parametrize("path", TRAIN_CONFS, ids=lambda p: str(p.relative_to(ROOT / "egs")))
def test_recipe_training_config_loads_and_builds(path):
    model_conf, cfg = load_train_config(path)
    model = DeepClustering.from_config(model_conf, where=str(path))
    assert sum(p.numel() for p in model.parameters()) > 0
    for stage in cfg.stages():
        assert stage["chunk_frames"] is None or stage["chunk_frames"] > 0
        assert stage["batch_size"] % cfg.accum_grad == 0
    if cfg.init_model:  # a model the recipe itself makes (exp/...), not a path outside it
        assert not Path(cfg.init_model).is_absolute() and not cfg.init_model.startswith(".."), cfg.init_model
