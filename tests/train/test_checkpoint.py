"""RNG states in checkpoints, on their own."""

from __future__ import annotations

import random

import numpy as np
import torch

from dcsep.train.checkpoint import get_rng_state, reseat_cuda_generators, restore_rng_states


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_restore_rng_states_per_rank_and_another_world_size():
    torch.manual_seed(0)
    states = [get_rng_state()]
    want = _draw()
    torch.manual_seed(1)
    states.append(get_rng_state())
    want1 = _draw()
    assert restore_rng_states(states, 1, 2) and _draw() == want1
    assert restore_rng_states(states, 0, 2) and _draw() == want
    # written by 2 processes, resumed by 3: rank 0 takes rank 0's, the others keep their own
    assert not restore_rng_states(states, 0, 3) and _draw() == want
    torch.manual_seed(9)
    mine = get_rng_state()
    assert not restore_rng_states(states, 2, 3)
    after = get_rng_state()
    assert torch.equal(after["torch"], mine["torch"])


def test_reseat_cuda_generators_leaves_the_streams():
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    reseat_cuda_generators()  # no CUDA here: nothing to do, and the CPU stream is untouched
    assert torch.equal(torch.rand(3), a)
