"""DynamicMixDataset: item contract, distinct speakers, determinism per (seed, epoch), scaling, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import make_source_dir
from torch.utils.data import DataLoader

from dcsep.data import dynamic_mix
from dcsep.data.dataset import collate
from dcsep.data.dynamic_mix import DynamicMixDataset
from dcsep.data.mixing import active_level, mix_sources
from dcsep.errors import ConfigError, DataError

FS = 8000


@pytest.fixture(scope="module")
def src_dir(tmp_path_factory):
    return make_source_dir(tmp_path_factory.mktemp("dm") / "sources")


@pytest.mark.parametrize("num_spk", [2, 3])
def test_item_contract(src_dir, num_spk):
    ds = DynamicMixDataset(src_dir, num_spk=num_spk, chunk_samples=2000, epoch_size=12, seed=0, fs=FS)
    assert len(ds) == 12
    for i in range(len(ds)):
        it = ds[i]
        assert set(it) == {"mix", "sources"}
        assert it["mix"].dtype == torch.float32 and it["sources"].dtype == torch.float32
        L = it["mix"].shape[0]
        assert it["mix"].shape == (L,) and it["sources"].shape == (num_spk, L)
        assert L == ds.num_samples(i) == 2000  # every utterance is longer than the chunk
        torch.testing.assert_close(it["sources"].sum(0), it["mix"], atol=1e-5, rtol=0)
        peak = max(it["mix"].abs().max(), it["sources"].abs().max())
        assert abs(float(peak) - 0.9) < 1e-5
        d = ds.describe(i)
        assert len(set(d["speakers"])) == num_spk


def test_mixed_counts_draw_each_item_its_count(src_dir):
    """num_spk [2, 3]: each item has 2 or 3 distinct speakers, drawn from (seed, epoch, index) alone."""
    ds = DynamicMixDataset(src_dir, num_spk=[3, 2], chunk_samples=1500, epoch_size=40, seed=0, fs=FS)
    assert ds.counts == (2, 3) and ds.num_spk == 3
    counts = [ds.item_num_spk(i) for i in range(40)]
    assert set(counts) == {2, 3}
    for i in range(12):
        it, d = ds[i], ds.describe(i)
        assert it["sources"].shape == (counts[i], 1500)
        assert len(d["utts"]) == len(set(d["speakers"])) == counts[i]
        assert len(d["gains_db"]) == counts[i]
        torch.testing.assert_close(it["sources"].sum(0), it["mix"], atol=1e-5, rtol=0)
    again = DynamicMixDataset(src_dir, num_spk=[2, 3], chunk_samples=1500, epoch_size=40, seed=0, fs=FS)
    assert [again.item_num_spk(i) for i in reversed(range(40))] == counts[::-1]
    again.set_epoch(1)
    assert [again.item_num_spk(i) for i in range(40)] != counts
    aug = DynamicMixDataset(src_dir, num_spk=[2, 3], chunk_samples=1500, epoch_size=40, seed=0, fs=FS,
                            augment={"speed": [0.9, 1.1], "colour": "source", "colour_prob": 1.0})
    for i in range(6):  # one speed and one filter per source of the item
        d = aug.describe(i)
        assert len(d["speeds"]) == len(d["coloured"]) == counts[i] == aug[i]["sources"].shape[0]


def test_a_fixed_count_draws_as_before(src_dir):
    """A one-count list is the plain count: the same items as num_spk=3."""
    a = DynamicMixDataset(src_dir, num_spk=3, chunk_samples=1500, epoch_size=8, seed=4, fs=FS)
    b = DynamicMixDataset(src_dir, num_spk=[3], chunk_samples=1500, epoch_size=8, seed=4, fs=FS)
    assert [a.describe(i) for i in range(8)] == [b.describe(i) for i in range(8)]


def test_mixed_count_batches_pad_silent_sources(src_dir):
    """collate pads 2-speaker items with a silent source: no bin is assigned to it, and the
    attractor loss of a padded item is that of the item alone."""
    from dcsep.losses.attractor import AttractorMaskLoss
    from dcsep.losses.abs import ibm_targets

    ds = DynamicMixDataset(src_dir, num_spk=[2, 3], chunk_samples=1500, epoch_size=40, seed=0, fs=FS)
    counts = [ds.item_num_spk(i) for i in range(40)]
    two, three = counts.index(2), counts.index(3)
    batch = collate([ds[two], ds[three]])
    assert batch["sources"].shape == (2, 3, 1500)
    assert (batch["sources"][0, 2] == 0).all() and (batch["sources"][1].abs().amax(-1) > 0).all()
    window = torch.hann_window(256)

    def mag(x):  # (..., L) -> (..., T, F)
        spec = torch.stft(x.reshape(-1, x.shape[-1]), 256, 64, window=window, return_complex=True)
        return spec.abs().transpose(-1, -2).reshape(*x.shape[:-1], -1, 129)

    Y = ibm_targets(mag(batch["sources"]))  # (B, T, F, C)
    assert Y[0, ..., 2].sum() == 0 and (Y[1].sum((0, 1)) > 0).all()
    V = torch.randn(2, *Y.shape[1:3], 6, generator=torch.Generator().manual_seed(0))
    V = torch.nn.functional.normalize(V, dim=-1)
    loss, mix = AttractorMaskLoss(), mag(batch["mix"])
    alone = loss(V[:1], ibm_targets(mag(ds[two]["sources"][None])), mix[:1])
    torch.testing.assert_close(loss(V[:1], Y[:1], mix[:1]), alone)


def test_whole_utterances_are_cut_to_the_shortest(src_dir):
    ds = DynamicMixDataset(src_dir, chunk_samples=None, seed=3, fs=FS)
    assert len(ds) == 15  # one item per utterance by default
    for i in range(5):
        d = ds.describe(i)
        lengths = [sf.info(ds.table.paths[ds.table.utts.index(u)]).frames for u in d["utts"]]
        assert ds[i]["mix"].shape[0] == min(lengths)


def test_default_epoch_size_covers_the_source_audio(src_dir):
    ds = DynamicMixDataset(src_dir, chunk_samples=1000, fs=FS)
    assert len(ds) == int(ds.table.lengths.sum()) // 1000


def test_draws_depend_on_seed_epoch_and_index_only(src_dir):
    a = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=10, seed=5, fs=FS)
    b = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=10, seed=5, fs=FS)
    a.set_epoch(4)
    b.set_epoch(4)
    first = [a[i] for i in range(10)]
    for i in reversed(range(10)):  # another order, another instance: the same items
        torch.testing.assert_close(b[i]["mix"], first[i]["mix"], rtol=0, atol=0)
        torch.testing.assert_close(b[i]["sources"], first[i]["sources"], rtol=0, atol=0)
    b.set_epoch(5)
    assert [b.describe(i) for i in range(10)] != [a.describe(i) for i in range(10)]
    c = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=10, seed=6, fs=FS)
    c.set_epoch(4)
    assert [c.describe(i) for i in range(10)] != [a.describe(i) for i in range(10)]
    # new combinations every epoch
    combos = set()
    for e in range(4):
        a.set_epoch(e)
        combos |= {tuple(sorted(a.describe(i)["utts"])) for i in range(10)}
    assert len(combos) > 15


@pytest.mark.parametrize("gain_range", [(0.0, 5.0), (2.0, 2.0), (-3.0, 1.0)])
def test_gains_in_range_and_applied_like_the_fixed_sets(src_dir, gain_range):
    ds = DynamicMixDataset(src_dir, chunk_samples=1200, epoch_size=20, gain_db_range=gain_range, seed=1, fs=FS)
    lo, hi = gain_range
    for i in range(20):
        d = ds.describe(i)
        g = d["gains_db"]
        assert lo - 1e-12 <= g[0] - g[1] <= hi + 1e-12 and g[0] == -g[1]
    # item 0 equals mix_sources on the same crops with the whole-utterance levels
    d = ds.describe(0)
    t = ds.table
    idx = [t.utts.index(u) for u in d["utts"]]
    segs = [sf.read(t.paths[j])[0][a:b] for j, (a, b) in zip(idx, d["crops"])]
    full_levels = [active_level(sf.read(t.paths[j])[0], FS) for j in idx]
    mix, srcs = mix_sources(segs, d["gains_db"], fs=FS, levels=full_levels)
    np.testing.assert_allclose(ds[0]["mix"].numpy(), mix, atol=1e-6)
    np.testing.assert_allclose(ds[0]["sources"].numpy(), srcs, atol=1e-6)


def test_level_table_cache_and_lazy_reading_agree(src_dir, tmp_path):
    with_levels = make_source_dir(tmp_path / "lev", levels=True)
    a = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=6, seed=2, fs=FS)
    b = DynamicMixDataset(with_levels, chunk_samples=1500, epoch_size=6, seed=2, fs=FS, max_cache_mb=0)
    assert a.table.audio is not None and a.table.audio.dtype == np.int16
    assert b.table.audio is None
    np.testing.assert_allclose(a.table.levels, b.table.levels, rtol=1e-12)
    for i in range(6):
        torch.testing.assert_close(a[i]["mix"], b[i]["mix"], rtol=0, atol=1e-7)


def test_float_files_are_cached_as_float(tmp_path):
    d = make_source_dir(tmp_path / "f", num_spk=2, utts=2, subtype="FLOAT")
    ds = DynamicMixDataset(d, chunk_samples=1000, epoch_size=2, fs=FS)
    assert ds.table.audio.dtype == np.float32


def test_table_is_loaded_once_per_process(src_dir, monkeypatch):
    DynamicMixDataset(src_dir, chunk_samples=1000, fs=FS)
    calls = []
    monkeypatch.setattr(dynamic_mix, "_build_table", lambda *a: calls.append(a))
    DynamicMixDataset(src_dir, chunk_samples=4000, fs=FS)  # curriculum: a new chunk length, same sources
    assert calls == []


def test_dataloader_workers_give_the_same_batches(src_dir):
    ds = DynamicMixDataset(src_dir, chunk_samples=1000, epoch_size=8, seed=4, fs=FS)
    ds.set_epoch(2)
    ref = collate([ds[i] for i in range(8)])
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
    got = list(loader)
    torch.testing.assert_close(torch.cat([b["mix"] for b in got]), ref["mix"], rtol=0, atol=0)


def test_one_dominant_speaker_still_gives_distinct_speakers(tmp_path):
    d = make_source_dir(tmp_path / "d", num_spk=3, utts=1)
    # 200 more utterances of speaker 0 (the same file listed again)
    lines = (d / "wav.scp").read_text().splitlines()
    path0 = lines[0].split()[1]
    (d / "wav.scp").write_text("\n".join(lines + [f"zz{k:03d} {path0}" for k in range(200)]) + "\n")
    (d / "utt2spk").write_text((d / "utt2spk").read_text() + "".join(f"zz{k:03d} spk0\n" for k in range(200)))
    ds = DynamicMixDataset(d, num_spk=3, chunk_samples=800, epoch_size=30, fs=FS)
    for i in range(30):
        assert sorted(ds.describe(i)["speakers"]) == ["spk0", "spk1", "spk2"]


def test_errors(src_dir, tmp_path):
    with pytest.raises(DataError, match=r"5 speaker\(s\), 6-speaker mixtures need at least 6"):
        DynamicMixDataset(src_dir, num_spk=6, chunk_samples=100, fs=FS)
    with pytest.raises(DataError, match=r"sample rate 8000 Hz, expected 16000 Hz"):
        DynamicMixDataset(src_dir, chunk_samples=100, fs=16000)
    with pytest.raises(ConfigError, match=r"gain_db_range: need finite lo <= hi"):
        DynamicMixDataset(src_dir, chunk_samples=100, gain_db_range=(5, 0), fs=FS)
    for bad in (1, [], [2, 1], [2, True], "2"):
        with pytest.raises(ConfigError, match=r"num_spk: an integer >= 2 or a list of them"):
            DynamicMixDataset(src_dir, num_spk=bad, chunk_samples=100, fs=FS)
    with pytest.raises(DataError, match=r"5 speaker\(s\), 6-speaker mixtures need at least 6"):
        DynamicMixDataset(src_dir, num_spk=[2, 6], chunk_samples=100, fs=FS)
    with pytest.raises(ConfigError, match=r"epoch_size: a positive integer"):
        DynamicMixDataset(src_dir, chunk_samples=100, epoch_size=0, fs=FS)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "wav.scp").write_text((src_dir / "wav.scp").read_text())
    with pytest.raises(DataError, match=r"utt2spk: file not found; dynamic mixing needs the speaker"):
        DynamicMixDataset(bare, chunk_samples=100, fs=FS)
    ds = DynamicMixDataset(src_dir, chunk_samples=100, epoch_size=3, fs=FS)
    with pytest.raises(IndexError):
        ds[3]


def test_trainer_config_accepts_the_dataset_keywords():
    from dcsep.train.config import split_config

    conf = {
        "encoder": "blstm",
        "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4},
        "train_dataset": "dynamic_mix",
        "train_dataset_conf": {"num_spk": 2, "gain_db_range": [0.0, 5.0], "epoch_size": 100},
    }
    _, cfg = split_config(conf)
    assert cfg.train_dataset == "dynamic_mix"
    aug_conf = {**conf["train_dataset_conf"], "augment": {"level_db": [-30.0, 6.0], "speed": [0.9, 1.1]}}
    _, cfg = split_config({**conf, "train_dataset_conf": aug_conf})
    assert cfg.train_dataset_conf["augment"]["speed"] == [0.9, 1.1]
    with pytest.raises(ConfigError, match="bogus"):
        split_config({**conf, "train_dataset_conf": {"bogus": 1}})


ROBUST = {"level_db": [-30.0, 6.0], "speed": [0.9, 1.1], "colour": "source", "colour_prob": 1.0}


def test_augment_keeps_the_plain_draws(src_dir):
    """Utterances and gains are those of the plain dataset; level and colour keep the crops too."""
    plain = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=10, seed=3, fs=FS)
    level = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=10, seed=3, fs=FS,
                              augment={"level_db": [-30.0, 6.0]})
    robust = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=10, seed=3, fs=FS, augment=ROBUST)
    for ds in (plain, level, robust):
        ds.set_epoch(2)
    for i in range(10):
        p, lv, r = plain.describe(i), level.describe(i), robust.describe(i)
        assert p["utts"] == lv["utts"] == r["utts"] and p["gains_db"] == lv["gains_db"] == r["gains_db"]
        assert p["crops"] == lv["crops"] and "speeds" not in p
        gain = 10 ** (lv["level_db"] / 20)
        np.testing.assert_allclose(level[i]["mix"].numpy(), plain[i]["mix"].numpy() * gain, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(level[i]["sources"].numpy(), plain[i]["sources"].numpy() * gain, rtol=1e-5,
                                   atol=1e-8)
        assert all(0.9 <= s <= 1.1 for s in r["speeds"]) and all(r["coloured"])
        # a resampled source's crop is what its speed needs (every utterance is longer than that)
        for (a, b), s in zip(r["crops"], r["speeds"]):
            assert b - a == dynamic_mix.aug.speed_input_length(1500, s)


def test_augmented_items_contract_and_determinism(src_dir):
    ds = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=8, seed=4, fs=FS, augment=ROBUST)
    ds.set_epoch(1)
    items = [ds[i] for i in range(8)]
    levels = []
    for i, it in enumerate(items):
        assert it["mix"].shape[0] == ds.num_samples(i) == 1500
        assert it["sources"].shape == (2, 1500) and it["mix"].dtype == torch.float32
        torch.testing.assert_close(it["sources"].sum(0), it["mix"], atol=1e-5, rtol=1e-5)
        d = ds.describe(i)
        peak = max(it["mix"].abs().max(), it["sources"].abs().max())
        assert float(peak) == pytest.approx(0.9 * 10 ** (d["level_db"] / 20), rel=1e-4)
        levels.append(d["level_db"])
    assert max(levels) - min(levels) > 5
    again = DynamicMixDataset(src_dir, chunk_samples=1500, epoch_size=8, seed=4, fs=FS, augment=ROBUST)
    again.set_epoch(1)
    for i in reversed(range(8)):
        torch.testing.assert_close(again[i]["mix"], items[i]["mix"], rtol=0, atol=0)
    loader = DataLoader(again, batch_size=4, num_workers=2, collate_fn=collate)
    torch.testing.assert_close(torch.cat([b["mix"] for b in loader]), torch.stack([it["mix"] for it in items]),
                               rtol=0, atol=0)


def test_speed_of_whole_utterances(src_dir):
    ds = DynamicMixDataset(src_dir, chunk_samples=None, seed=1, fs=FS, augment={"speed": [0.9, 1.1]})
    for i in range(5):
        d = ds.describe(i)
        lengths = [sf.info(ds.table.paths[ds.table.utts.index(u)]).frames for u in d["utts"]]
        want = min(int(np.ceil(n / s)) for n, s in zip(lengths, d["speeds"]))
        assert ds[i]["mix"].shape[0] == ds.num_samples(i) == want


def test_bad_augment_options(src_dir):
    with pytest.raises(ConfigError, match=r"train_dataset_conf.augment: unknown key 'reverb'"):
        DynamicMixDataset(src_dir, chunk_samples=100, fs=FS, augment={"reverb": 1})
    with pytest.raises(ConfigError, match=r"train_dataset_conf.augment.speed: factors within"):
        DynamicMixDataset(src_dir, chunk_samples=100, fs=FS, augment={"speed": [0.1, 1.0]})
