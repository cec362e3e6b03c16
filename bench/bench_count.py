#!/usr/bin/env python
"""Speaker counting accuracy: confusion matrices of ``dcsep.clusterers.count.estimate_num_spk``.

Each ``--set NAME:COUNT:SCP`` is a list of inputs (``<utt> <path>`` lines)
that hold COUNT speakers each: a ``wav.scp`` of 2- or 3-speaker mixtures, or
a ``spk1.scp`` of single utterances for 1 speaker. NAME may carry a test
condition (:mod:`dcsep.data.conditions`): ``cv+pad3@-30:2:...`` scores the
inputs with 3 s of pauses around them, scaled by -30 dB. The model
(``--model``, default the released ``pretrained/speechocean762_dc_blstm``)
embeds each input and the count is estimated on its active bins, with at
most ``--max-spk`` speakers.

    # choose the threshold: validation sets only
    python bench/bench_count.py --select --cache exp/count \\
        --set cv_1spk:1:egs/speechocean762/data/full/cv/spk1.scp \\
        --set cv:2:egs/speechocean762/data/full/cv/wav.scp \\
        --set cv_3spk:3:egs/speechocean762/data/full/cv_3spk/wav.scp
    # measure once on test sets, with the library's defaults
    python bench/bench_count.py --set tt_1spk:1:.../tt/spk1.scp --set tt:2:.../tt/wav.scp ...

Both print the quantiles of the participation ratio for each count.
``--select`` scans pairs of thresholds (2 and 3 speakers) and prints the
best: the highest mean accuracy over the counts among the pairs that keep
1 and 2 speakers at 90% or more (the targets); without it, the confusion
matrix (rows: true count, columns: estimate) of the model's thresholds
(those stored with it by ``dcsep-pack --count-conf``, else the library's
defaults), as markdown. ``--cache DIR`` keeps each set's
eigenvalue shares (``DIR/<name>.npz``, with the model's path) so that a
second run with the same model skips it;
``--max-per-set N`` takes N inputs of each set (evenly spread over the
sorted list).

``--select --linear M`` fits a linear counter instead
(:func:`dcsep.clusterers.count.fit_linear_counter` on the logarithms of
the M largest shares, every set's inputs pooled), then scans offsets of its
2- and 3-speaker scores as the thresholds are scanned, and prints the best
as a ``count_conf`` (``--write-conf FILE`` also writes it, as YAML, for
``dcsep-pack --count-conf FILE``). It is fitted and its offsets chosen on
the same inputs, so its figures there are those of a choice: measure it
on other sets, once. ``--folds N`` first prints what it gives by N-fold
cross-validation on those inputs (the versions of one input under
different conditions in one fold): each fold counted by a counter fitted
on the others, its offsets chosen on that counter's own scores, or on the
others' cross-validated scores (nested). These are the figures to compare
counters by. ``--cv-offsets`` chooses the offsets of the counter it writes
on the N-fold cross-validated scores of all the inputs rather than on its
own: less flattering on these inputs, and closer to what new inputs give.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

MODEL = "speechocean762_dc_blstm"


def parse_set(text: str) -> tuple[str, int, Path]:
    try:
        name, count, scp = text.split(":", 2)
        return name, int(count), Path(scp)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--set wants NAME:COUNT:SCP, got {text!r}") from None


def set_shares(sep, model: str, name: str, scp: Path, max_per_set: int | None, cache: Path | None) -> tuple[list[str], np.ndarray]:
    """(utterance ids, (n, K) eigenvalue shares) of the inputs of one set (under its condition)."""
    import torch

    from dcsep.clusterers.count import eigen_shares
    from dcsep.data.audio import load_audio
    from dcsep.data.conditions import parse_condition
    from dcsep.data.datadir import read_scp

    cond = parse_condition(name)[1]
    items = sorted(read_scp(scp).items())
    if max_per_set and len(items) > max_per_set:
        items = [items[i] for i in np.linspace(0, len(items) - 1, max_per_set).round().astype(int)]
    path = None if cache is None else cache / f"{name}.npz"
    if path is not None and path.is_file():
        got = np.load(path)
        if list(got["utts"]) == [u for u, _ in items] and str(got["model"]) == model:
            return list(got["utts"]), got["shares"]
    shares = []
    for i, (utt, wav_path) in enumerate(items):
        wav = cond.apply(utt, load_audio(wav_path, fs=sep.fs)[0], None, sep.fs)[0]
        with torch.inference_mode():
            feats, spec, lengths = sep.model.frontend(sep._padded(wav))
            V = sep.model.encoder(feats, lengths)[0]  # (T, F, K)
            active = sep.model.active_bins(spec, lengths)[0]  # (T, F)
        shares.append(eigen_shares(V.reshape(-1, V.shape[-1]), active.reshape(-1).float()).numpy())
        if (i + 1) % 100 == 0:
            print(f"{name}: {i + 1}/{len(items)}", file=sys.stderr, flush=True)
    utts, shares = [u for u, _ in items], np.stack(shares)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, utts=np.array(utts), shares=shares, model=np.array(model))
        tmp.replace(path)
    return utts, shares


def confusion(true: np.ndarray, est: np.ndarray, max_spk: int) -> np.ndarray:
    """(max_spk, max_spk) counts: row = true count - 1, column = estimate - 1."""
    m = np.zeros((max_spk, max_spk), dtype=int)
    np.add.at(m, (true - 1, est - 1), 1)
    return m


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", dest="sets", type=parse_set, action="append", required=True, help="NAME:COUNT:SCP (repeat)")
    p.add_argument("--model", default=MODEL, help=f"model name or path (default {MODEL})")
    p.add_argument("--max-spk", type=int, default=3, help="largest count (default 3)")
    p.add_argument("--max-per-set", type=int, default=None, help="inputs per set (default all)")
    p.add_argument("--cache", type=Path, default=None, help="keep eigenvalue shares per set in this dir")
    p.add_argument("--select", action="store_true", help="scan thresholds (validation sets only)")
    p.add_argument("--linear", type=int, default=None, metavar="M", help="with --select: fit a linear counter on M shares")
    p.add_argument("--folds", type=int, default=None, help="with --linear: also cross-validate it in this many folds")
    p.add_argument("--cv-offsets", action="store_true", help="with --folds: choose the offsets on cross-validated scores")
    p.add_argument("--write-conf", type=Path, default=None, help="with --select: write the chosen count_conf here (YAML)")
    args = p.parse_args(argv)

    import torch

    from dcsep.clusterers.count import THRESHOLDS, count_from_shares, fit_linear_counter, linear_scores, participation_ratio
    from dcsep.separate import Separator

    if (args.linear is not None or args.write_conf is not None) and not args.select:
        p.error("--linear and --write-conf go with --select")
    if args.folds is not None and (args.linear is None or args.folds < 2):
        p.error("--folds goes with --linear, and needs 2 or more")
    if args.cv_offsets and not args.folds:
        p.error("--cv-offsets needs --folds")
    torch.set_num_threads(1)
    sep = Separator.from_pretrained(args.model, device="cpu")
    thresholds = tuple(sep.count_conf.get("thresholds", THRESHOLDS))
    linear = sep.count_conf.get("linear")
    true, shares, per_set, groups = [], [], [], []
    for name, count, scp in args.sets:
        utts, s = set_shares(sep, args.model, name, scp, args.max_per_set, args.cache)
        true += [count] * len(utts)
        groups += [f"{count}:{u}" for u in utts]  # one input under every condition
        shares.append(s)
        per_set.append((name, count, len(utts)))
    true, shares = np.array(true), torch.from_numpy(np.concatenate(shares))
    counts = sorted(set(true.tolist()))
    print("sets: " + ", ".join(f"{n} ({c} speakers, {k} inputs)" for n, c, k in per_set))
    d = participation_ratio(shares).numpy()
    for c in counts:
        q = np.quantile(d[true == c], [0.05, 0.25, 0.5, 0.75, 0.95])
        print(f"participation ratio, {c} speaker(s): quantiles 5/25/50/75/95% " + " ".join(f"{x:.2f}" for x in q))

    if args.folds:
        from sklearn.model_selection import GroupKFold

    def accuracies(thresholds, linear=None) -> list[float]:
        est = count_from_shares(shares, args.max_spk, thresholds, linear).numpy()
        return [float((est[true == c] == c).mean()) for c in counts]

    def write_conf(conf: dict) -> None:
        import yaml

        text = yaml.safe_dump(conf, default_flow_style=None, sort_keys=False)
        print("count_conf: " + yaml.safe_dump(conf, default_flow_style=True, width=10**6).strip())
        if args.write_conf is not None:
            args.write_conf.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.write_conf.with_name(args.write_conf.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(args.write_conf)
            print(f"wrote {args.write_conf}")

    def offset_counts(scores: np.ndarray, o) -> np.ndarray:
        """The counts of linear-counter ``scores`` (n, C) with offsets ``o`` added (at most max_spk)."""
        return (scores + np.array(o[: scores.shape[1]]))[:, : min(args.max_spk, scores.shape[1])].argmax(1) + 1

    def best_offsets(scores: np.ndarray, labels: np.ndarray, quiet: bool = False):
        """((offsets, accuracies), kept list): the offsets of the 2- and 3-speaker scores with the best mean
        accuracy on ``labels`` among those that keep 1 and 2 speakers at 90% or more (as the thresholds below)."""
        steps = np.round(np.arange(-4.0, 4.0 + 1e-9, 0.1), 2)
        grid = [(0.0, a, b) for a in steps for b in (steps if scores.shape[1] > 2 else [0.0])]

        def acc(o):
            est = offset_counts(scores, o)
            return [float((est[labels == c] == c).mean()) for c in counts]

        scored = [(o, acc(o)) for o in grid]
        ok = [x for x in scored if all(a >= 0.9 for c, a in zip(counts, x[1]) if c in (1, 2))]
        if not ok and not quiet:
            print("no choice keeps 1 and 2 speakers at 90% or more: the best of all")
        ok = ok or scored
        return max(ok, key=lambda x: (np.mean(x[1]), -abs(x[0][1]) - abs(x[0][2]))), ok

    def held_out_scores(idx: np.ndarray) -> np.ndarray:
        """(len(idx), C) scores of the inputs ``idx``, each from a counter fitted on the other folds of idx."""
        held = np.zeros((len(idx), max(counts)))
        for train, test in GroupKFold(args.folds).split(idx, true[idx], np.asarray(groups)[idx]):
            fit = fit_linear_counter(shares[idx[train]], true[idx[train]], args.linear)
            held[test] = linear_scores(shares[idx[test]], fit).numpy()
        return held

    if args.select and args.linear is not None:
        everything = np.arange(len(true))
        if args.folds:
            # nested: each fold is counted by a counter fitted on the others, with offsets chosen on that
            # counter's own scores (as without --cv-offsets) or on the others' cross-validated scores
            est = {"its own fit": np.zeros(len(true), dtype=int), "cross-validated scores": np.zeros(len(true), dtype=int)}
            for train, test in GroupKFold(args.folds).split(everything, true, groups):
                fit = fit_linear_counter(shares[train], true[train], args.linear)
                scores = linear_scores(shares[test], fit).numpy()
                for how, source in (("its own fit", linear_scores(shares[train], fit).numpy()), ("cross-validated scores", held_out_scores(train))):
                    (o, _), _ = best_offsets(source, true[train], quiet=True)
                    est[how][test] = offset_counts(scores, o)
            for how, e in est.items():
                acc = [float((e[true == c] == c).mean()) for c in counts]
                print(f"{args.folds}-fold cross-validation, linear counter on {args.linear} shares, offsets chosen on {how}: "
                      + ", ".join(f"{c} spk {a:.1%}" for c, a in zip(counts, acc)) + f"; mean {np.mean(acc):.1%}")
        # fit on all the inputs, then the offsets as above on its own scores (or on cross-validated ones)
        fit = fit_linear_counter(shares, true, args.linear)

        def shifted(o):
            return {"coef": fit["coef"], "intercept": [float(b + x) for b, x in zip(fit["intercept"], o)]}

        best, ok = best_offsets(held_out_scores(everything) if args.cv_offsets else linear_scores(shares, fit).numpy(), true)
        if args.cv_offsets:  # the accuracies of the counter itself, with those offsets
            ok = [(o, accuracies(thresholds, shifted(o))) for o, _ in ok]
            best = (best[0], accuracies(thresholds, shifted(best[0])))
        print(f"linear counter on {args.linear} shares; offsets of the 2- and 3-speaker scores:")
        print("| offsets (2, 3 speakers) | " + " | ".join(f"{c} spk" for c in counts) + " | mean |")
        print("|---|" + "---:|" * (len(counts) + 1))
        for o, acc in sorted(ok, key=lambda x: -np.mean(x[1]))[:10]:
            print(f"| {o[1]:+.1f}, {o[2]:+.1f} | " + " | ".join(f"{a:.1%}" for a in acc) + f" | {np.mean(acc):.1%} |")
        print(f"best offsets ({best[0][1]:+.1f}, {best[0][2]:+.1f}): accuracy " + ", ".join(f"{c} spk {a:.1%}" for c, a in zip(counts, best[1])))
        lin = shifted(best[0])
        write_conf({"linear": {"coef": [[round(x, 6) for x in r] for r in lin["coef"]], "intercept": [round(x, 6) for x in lin["intercept"]]}})
        return 0
    if args.select:
        # the pair with the best mean accuracy among those that keep 1 and 2 speakers at 90% or more
        # over the whole range of D on these inputs, and one step beyond (a count never reached)
        steps = np.arange(np.floor(d.min() * 20) / 20, np.ceil(d.max() * 20) / 20 + 0.1, 0.05)
        grid = [(round(a, 2), round(b, 2)) for a in steps for b in steps if b > a]
        scored = [(t, accuracies(t)) for t in grid]
        ok = [x for x in scored if all(a >= 0.9 for c, a in zip(counts, x[1]) if c in (1, 2))]
        if not ok:
            print("no thresholds keep 1 and 2 speakers at 90% or more: the best of all pairs")
            ok = scored
        best = max(ok, key=lambda x: (np.mean(x[1]), -x[0][1]))
        print("| thresholds (2, 3 speakers) | " + " | ".join(f"{c} spk" for c in counts) + " | mean |")
        print("|---|" + "---:|" * (len(counts) + 1))
        for t, acc in sorted(ok, key=lambda x: -np.mean(x[1]))[:15]:
            print(f"| {t[0]:.2f}, {t[1]:.2f} | " + " | ".join(f"{a:.1%}" for a in acc) + f" | {np.mean(acc):.1%} |")
        print(f"best thresholds ({best[0][0]:.2f}, {best[0][1]:.2f}): accuracy " + ", ".join(f"{c} spk {a:.1%}" for c, a in zip(counts, best[1]))
              + f" (the model's now: {thresholds})")
        write_conf({"thresholds": [float(best[0][0]), float(best[0][1])]})
        return 0
    est = count_from_shares(shares, args.max_spk, thresholds, linear).numpy()
    m = confusion(true, est, args.max_spk)
    if linear is not None:
        print(f"model {args.model}: the linear counter stored with it ({len(linear['coef'][0])} shares), max_spk {args.max_spk}")
    else:
        origin = "stored with the model" if "thresholds" in sep.count_conf else "the library's defaults"
        print(f"model {args.model}: thresholds {thresholds} ({origin}), max_spk {args.max_spk}")
    print("| true \\ estimated | " + " | ".join(str(c) for c in range(1, args.max_spk + 1)) + " | correct |")
    print("|---|" + "---:|" * (args.max_spk + 1))
    for c in counts:
        row = m[c - 1]
        print(f"| {c} | " + " | ".join(str(x) for x in row) + f" | {row[c - 1] / row.sum():.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
