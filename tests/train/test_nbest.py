"""n-best tracking, early stopping and checkpoint averaging, on their own."""

from __future__ import annotations

import math

import pytest
import torch

from dcsep.model import DeepClustering
from dcsep.train import nbest


def test_update_nbest_keeps_the_best_first():
    nb, added = [], False
    for epoch, valid in enumerate([0.9, 0.7, 0.8, 0.7, float("nan"), 0.95, 0.6], 1):
        nb, added = nbest.update_nbest(nb, valid, epoch, keep=3)
        if epoch == 4:  # a tie with epoch 2: the earlier epoch ranks first
            assert nb == [[0.7, 2], [0.7, 4], [0.8, 3]] and added
        if epoch in (5, 6):  # not finite; not better than the worst kept
            assert not added
    assert nb == [[0.6, 7], [0.7, 2], [0.7, 4]] and added


def test_update_nbest_does_not_change_its_input():
    old = [[0.5, 1]]
    new, _ = nbest.update_nbest(old, 0.4, 2, keep=2)
    assert old == [[0.5, 1]] and new == [[0.4, 2], [0.5, 1]]


def test_stop_reason():
    assert nbest.stop_reason(10, 10, None, []) == "reached max_epochs (10)"
    assert nbest.stop_reason(3, 10, None, [[0.1, 1]]) == ""
    assert nbest.stop_reason(3, 10, 2, [[0.1, 1]]).startswith("early stopping: no better validation loss for 2")
    assert nbest.stop_reason(2, 10, 2, [[0.1, 1]]) == ""
    assert nbest.stop_reason(5, 10, 0, []) == ""  # nothing finite yet: no early stopping


def test_average_state_dicts():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(5)}
    out = nbest.average_state_dicts([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0])) and int(out["n"]) == 3
    with pytest.raises(ValueError):
        nbest.average_state_dicts([])


def test_best_and_average_and_pruning(tmp_path, tiny_model_config):
    models = []
    for epoch in (1, 2, 3):
        torch.manual_seed(epoch)
        m = DeepClustering.from_config(tiny_model_config)
        m.save(nbest.epoch_file(tmp_path, epoch))
        models.append(m)
    nb = [[0.2, 3], [0.3, 1]]
    best, avg = nbest.best_and_average(tmp_path, nb, models[0].config)
    for k, v in best.state_dict().items():
        assert torch.equal(v, models[2].state_dict()[k]), k
        if torch.is_floating_point(v):
            want = (models[2].state_dict()[k].double() + models[0].state_dict()[k].double()) / 2
            assert torch.allclose(avg.state_dict()[k], want.float(), atol=1e-7), k
    nbest.prune_epoch_files(tmp_path, nb)
    assert sorted(p.name for p in tmp_path.glob("epoch*.pt")) == ["epoch1.pt", "epoch3.pt"]
    assert math.isfinite(nb[0][0])


def test_load_model_states_names_a_bad_file(tmp_path):
    from dcsep.errors import ConfigError

    torch.save({"config": {}}, tmp_path / "epoch1.pt")
    with pytest.raises(ConfigError, match="epoch1.pt: not a dcsep model file"):
        nbest.load_model_states([tmp_path / "epoch1.pt"])
