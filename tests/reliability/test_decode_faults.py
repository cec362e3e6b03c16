"""SIGKILL dcsep-decode and dcsep-score mid-run, run them again: they finish the
remaining utterances without redoing or corrupting finished ones, and an scp
never lists a wav that is not complete.

Attempts run in forked children of ``faultdriver.py``, which kill themselves at
exact points (inside a wav write, between the wavs of one utterance, inside the
separation, between writing spk1.scp and spk2.scp, in the middle of a
scores.tsv row, ...). After every attempt the driver reads every wav listed in
every scp of the output dir (a truncated wav is an error) and records the
mtime of every file.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf
import torch

from conftest import make_tiny_corpus
from dcsep.model import DeepClustering

from .test_train_faults import run_driver

NUM_UTTS = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode_faults")
    tt = make_tiny_corpus(root / "tt", num_utts=NUM_UTTS, seconds=0.5, seed=5)
    (tt / "utt2category").write_text("".join(f"utt{i:03d} {'a' if i % 2 else 'b'}\n" for i in range(NUM_UTTS)))
    torch.manual_seed(0)
    model = DeepClustering.from_config(
        {"encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4}, "clusterer_conf": {"n_init": 2}}
    )
    model.save(root / "model.pt")
    return {"root": root, "tt": tt, "model": root / "model.pt"}


def decode_argv(s, out: Path) -> list[str]:
    return ["--model", str(s["model"]), "--scp", str(s["tt"] / "wav.scp"), "--outdir", str(out), "--device", "cpu"]


def complete_utts(mtimes: dict) -> set[str]:
    wavs = {k for k in mtimes if k.startswith("wav/") and k.endswith(".wav")}
    utts = {re.sub(r"-spk\d+\.wav$", "", Path(k).name) for k in wavs}
    return {u for u in utts if all(f"wav/{u}-spk{c}.wav" in wavs for c in (1, 2))}


def scp_utts(d: Path, name: str) -> set[str]:
    p = d / name
    return {line.split()[0] for line in p.read_text().splitlines() if line.strip()} if p.exists() else set()


def test_decode_and_score_killed_and_rerun(tmp_path, setup):
    s = setup
    ref, out = tmp_path / "ref", tmp_path / "out"
    decode_kills = [
        ["wav", "*.wav", 3],  # inside the 3rd wav write: header + half the samples in the temporary file
        ["replace", "*-spk1.wav", 2],  # between the two wavs of an utterance
        ["call", "dcsep.separate:Separator.separate", 2],  # inside the separation
        ["replace", "spk1.scp", 1],  # spk1.scp written, spk2.scp not yet
        None,  # all done: nothing is redone
        None,
    ]
    score_kills = [
        ["call", "dcsep.metrics:score_utterance", 3],
        ["half_row", "", 2],  # half of a scores.tsv row on disk
        ["replace", "summary.json", 1],
        None,
        None,
    ]
    runs = run_driver(
        tmp_path,
        [
            {"entry": "dcsep.bin.decode:main", "argv": decode_argv(s, ref), "kills": [None], "check": str(ref)},
            {"entry": "dcsep.bin.decode:main", "argv": decode_argv(s, out), "kills": decode_kills, "check": str(out),
             "check_scps": True, "snapshot_mtimes": True},
            {"entry": "dcsep.bin.score:main", "argv": ["--ref", str(s["tt"]), "--est", str(ref)], "kills": [None],
             "check": str(ref)},
            {"entry": "dcsep.bin.score:main", "argv": ["--ref", str(s["tt"]), "--est", str(out)], "kills": score_kills,
             "check": str(out), "check_scps": True, "snapshot_mtimes": True},
        ],
    )
    (dec_ref,), dec, (score_ref,), sco = runs
    assert dec_ref["exit_code"] == 0, dec_ref["output_tail"]
    assert score_ref["exit_code"] == 0, score_ref["output_tail"]

    # ---- decode
    prev: dict = {}
    for i, (kill, a) in enumerate(zip(decode_kills, dec)):
        if kill is not None:
            assert a["killed"], f"{kill} did not fire: {a['output_tail']}"
        else:
            assert a["exit_code"] == 0, a["output_tail"]
        assert not a["bad_scp_entries"], (kill, a["bad_scp_entries"])
        for utt in complete_utts(prev):  # finished before: neither redone nor touched
            for c in (1, 2):
                k = f"wav/{utt}-spk{c}.wav"
                assert a["mtimes"][k] == prev[k], f"{k} rewritten by attempt {i} ({kill})"
        prev = a["mtimes"]
    assert f"{NUM_UTTS} already done, 0 to separate" in dec[-1]["output_tail"]
    assert not [p.name for p in out.rglob("*.wav.*.tmp")]  # the killed wav write's temporary file is gone
    for c in (1, 2):
        assert scp_utts(out, f"spk{c}.scp") == scp_utts(ref, f"spk{c}.scp") == {f"utt{i:03d}" for i in range(NUM_UTTS)}
    for p in sorted((ref / "wav").glob("*.wav")):
        a, fa = sf.read(p, dtype="int16")
        b, fb = sf.read(out / "wav" / p.name, dtype="int16")
        assert fa == fb and (a == b).all(), p.name  # same result as an uninterrupted run

    # ---- score
    for kill, a in zip(score_kills, sco):
        if kill is not None:
            assert a["killed"], f"{kill} did not fire: {a['output_tail']}"
        else:
            assert a["exit_code"] == 0, a["output_tail"]
        assert not a["bad_scp_entries"]
    # each run scores only what is missing: 2 rows survive the first kill, 1 whole row more the second
    done = [int(m.group(1)) for a in sco for m in [re.search(r"(\d+) already scored", a["output_tail"])] if m]
    assert done == [0, 2, 3, NUM_UTTS, NUM_UTTS], done
    rows_ref = (ref / "scores.tsv").read_text().splitlines()
    rows_out = (out / "scores.tsv").read_text().splitlines()
    assert rows_out[0] == rows_ref[0] and sorted(rows_out[1:]) == sorted(rows_ref[1:])
    assert len({r.split("\t")[0] for r in rows_out[1:]}) == NUM_UTTS  # no duplicate rows
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (ref, out))
    assert sa["overall"] == sb["overall"] and sa["breakdown"] == sb["breakdown"]


def test_no_temp_files_listed(tmp_path, setup):
    """Temporary files of killed writes are hidden and never match the outputs' names."""
    out = tmp_path / "o"
    shutil.copytree(setup["tt"], tmp_path / "tt")
    (out / "wav").mkdir(parents=True)
    (out / "wav" / ".utt000-spk1.wav.x1y2.tmp").write_bytes(b"RIFF")
    from dcsep.bin.decode import main

    assert main(decode_argv({**setup, "tt": tmp_path / "tt"}, out)) == 0
    for scp in out.glob("*.scp"):
        assert ".tmp" not in scp.read_text()
    assert not (out / "wav" / ".utt000-spk1.wav.x1y2.tmp").exists()  # removed by the next run
