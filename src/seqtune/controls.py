"""Controls that can conclude at the default cost.

* **Label permutation on the baseline** (:func:`permutation_null`): the k-mer logistic regression refitted on many
  permutations of its training labels (a fraction of a second each) gives the null distribution of test AUROC when
  the labels carry nothing. Its mean must sit at 0.5 (its interval is narrow: hundreds of fits), or something leaks;
  the real fit's p-value says whether the baseline found signal; and the null's spread is the yardstick for the few
  network runs on shuffled labels.
* **Shortcut** (:func:`shortcut_scores`): every trained model scored on dinucleotide-shuffled test sequences (2-mer
  composition kept, order destroyed, :mod:`seqtune.shuffle`): how much of a score composition alone explains.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from .errors import SeqtuneError
from .io import write_json, write_tsv
from .seeds import derive_seed

log = logging.getLogger("seqtune")


def _auroc(model, x, truth, n_classes: int) -> float:
    from .metrics import classification_metrics

    probabilities = np.zeros((x.shape[0], n_classes))
    probabilities[:, model.classes_] = model.predict_proba(x)
    return float(classification_metrics(truth, probabilities, n_classes)["auroc"])


def permutation_null(codes: str, manifest: str, output: str, train_size: int, seeds: list[int],
                     n_permutations: int, kind: str = "kmer_logreg", k: int = 3, seed: int = 0,
                     tuned: dict | None = None) -> dict:
    """Null distribution of a baseline's test AUROC under permuted training labels, at one train size.

    For each run seed (its nested training subset, as the baseline runs draw it) the baseline is fitted on the true
    labels (C chosen on the validation split as the baseline runs choose it, or the search's C from ``tuned``, the
    baseline's chosen parameters at this size) and then refitted at that C on ``n_permutations`` / len(seeds)
    permutations of the training labels; each fit is scored on the test split. Written as JSON: the null values,
    their mean with a 95% t-interval, sd and 2.5/97.5% quantiles, the real fits' AUROC and the permutation p-value
    of their mean (the fraction of null values at least as high, counted with the real one; single permuted fits
    vary more than a mean of real ones, so the p-value errs on the large side).
    """
    from scipy import stats as sps
    from sklearn.base import clone

    from .baselines import features, fit_logistic
    from .data import read_dataset, read_manifest
    from .split import training_subset

    if n_permutations < 2:
        raise SeqtuneError(f"controls.permutation.n_permutations: {n_permutations}; give at least 2 (200 by default)")
    data = read_dataset(codes)
    assignment = read_manifest(manifest, data)
    targets = data.targets()
    parts = {name: np.flatnonzero(assignment == name) for name in ("train", "validation", "test")}
    n_classes = len(data.classes)
    x_test = features(kind, np.asarray(data.codes[parts["test"]]), k)
    x_validation = features(kind, np.asarray(data.codes[parts["validation"]]), k)
    real, null, chosen_c = [], [], []
    per_seed = max(1, math.ceil(n_permutations / len(seeds)))
    for run_seed in seeds:
        subset = training_subset(parts["train"], targets[parts["train"]], train_size,
                                 derive_seed(run_seed, "subset"), source=f"training split of {manifest}")
        x_train, y_train = features(kind, np.asarray(data.codes[subset]), k), targets[subset]
        model, c, _ = fit_logistic(x_train, y_train, x_validation, targets[parts["validation"]], run_seed,
                                   source=f"training subset of {train_size} from {manifest}", names=data.classes,
                                   **({"c_grid": (float(tuned["params"]["C"]),)} if tuned else {}))
        chosen_c.append(float(c))
        real.append(_auroc(model, x_test, targets[parts["test"]], n_classes))
        rng = np.random.default_rng(derive_seed(seed, "permutation", train_size, run_seed))
        for _ in range(per_seed):
            permuted = rng.permutation(y_train)
            if np.unique(permuted).size < 2:
                continue
            refit = clone(model).fit(x_train, permuted)
            null.append(_auroc(refit, x_test, targets[parts["test"]], n_classes))
    null = np.asarray(null[:n_permutations])
    mean, sd = float(null.mean()), float(null.std(ddof=1))
    half = float(sps.t.ppf(0.975, null.size - 1) * sd / math.sqrt(null.size))
    real_mean = float(np.mean(real))
    result = {"train_size": int(train_size), "kind": kind, "k": k if kind == "kmer_logreg" else None,
              "seeds": list(map(int, seeds)), "n_permutations": int(null.size), "null_mean": mean, "null_sd": sd,
              "null_ci": [mean - half, mean + half],
              "null_quantiles": [float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))],
              "real": real, "real_mean": real_mean, "C": chosen_c, "tuned": bool(tuned),
              "p_value": float((1 + (null >= real_mean).sum()) / (1 + null.size)), "null": null.tolist()}
    write_json(output, result)
    log.info("permutation null of %s at %d: mean %.3f (sd %.3f, %d fits); real %.3f, p %.4f", kind, train_size,
             mean, sd, null.size, real_mean, result["p_value"])
    return result


def shortcut_scores(codes: str, manifest: str, weights: list[str], output: str, seed: int,
                    threads: int = 1, rc_average: bool = False, gpus: int = 0) -> pd.DataFrame:
    """Each model of ``weights`` scored on the test split as it is and dinucleotide-shuffled (the same shuffle for
    every model); one TSV row per model: its run identity from the path (.../<pretrained>/<strategy>/n<size>/
    seed<seed>/model.safetensors), test AUROC, shuffled AUROC (predicted as ``evaluate`` predicts, ``rc_average``
    alike)."""
    import torch

    from .metrics import classification_metrics
    from .data import read_dataset, read_manifest
    from .shuffle import shuffle_codes
    from .train import configure_torch, prediction_module, predict_proba, select_device
    from .weights import load_model

    if not weights:
        raise SeqtuneError("shortcut-control: no model given; pass the .safetensors files of the trained models "
                           "(or set controls.shortcut.enabled: false)")
    configure_torch(threads, seed)
    device = select_device(gpus)
    data = read_dataset(codes)
    assignment = read_manifest(manifest, data)
    test = np.flatnonzero(assignment == "test")
    truth = data.targets()[test]
    original = np.ascontiguousarray(data.codes[test])
    shuffled = shuffle_codes(original, derive_seed(seed, "dinucleotide-shuffle"))
    inputs = {"test": torch.from_numpy(original).to(device), "shuffled": torch.from_numpy(shuffled).to(device)}
    rows = []
    for path in weights:
        parts = str(path).replace("\\", "/").split("/")
        if len(parts) < 5 or not (parts[-3].startswith("n") and parts[-3][1:].isdigit()
                                  and parts[-2].startswith("seed") and parts[-2][4:].isdigit()):
            raise SeqtuneError(f"{path}: not a run's model; shortcut-control reads the run from the path "
                               ".../<pretrained>/<strategy>/n<size>/seed<seed>/model.safetensors")
        model, sidecar = load_model(path)
        if list(sidecar["classes"]) != data.classes:
            raise SeqtuneError(f"{path}: model classes {sidecar['classes']} differ from the data's {data.classes}")
        module = prediction_module(model.to(device), sidecar.get("training", {}))
        row = {"pretrained": parts[-5], "strategy": parts[-4], "train_size": int(parts[-3][1:]),
               "seed": int(parts[-2][4:])}
        for name, x in inputs.items():
            probabilities = predict_proba(module, x, False, rc_average=rc_average)
            row[f"auroc_{name}"] = float(classification_metrics(truth, probabilities, len(data.classes))["auroc"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    write_tsv(output, frame)
    return frame


# --------------------------------------------------------------------------------------------------------- verdict
def permutation_check(nulls: list[dict], runs: pd.DataFrame, tolerance: float = 0.05) -> dict:
    """The permutation control's verdict: at every train size the null mean's 95% interval must lie within
    0.5 +- ``tolerance`` (passed) or it fails (the interval excludes 0.5 and the mean is more than ``tolerance`` away);
    with hundreds of fits the interval is narrow, so it concludes. The network runs on shuffled labels (``runs``,
    strategy ``shuffled_labels``) are placed within the null: how many lie inside its central 95% range."""
    per_size = []
    control = runs[runs["strategy"] == "shuffled_labels"] if len(runs) else runs
    for null in sorted(nulls, key=lambda n: n["train_size"]):
        low, high = null["null_ci"]
        failed = (low > 0.5 or high < 0.5) and abs(null["null_mean"] - 0.5) > tolerance
        passed = not failed and 0.5 - tolerance <= low and high <= 0.5 + tolerance
        status = "failed" if failed else "passed" if passed else "inconclusive"
        entry = {**{key: value for key, value in null.items() if key != "null"}, "status": status}
        networks = control[control["train_size"] == null["train_size"]]["auroc"].dropna() if len(control) else []
        if len(networks):
            q_low, q_high = null["null_quantiles"]
            entry["network_runs"] = [float(v) for v in networks]
            entry["network_inside_null"] = int(((networks >= q_low) & (networks <= q_high)).sum())
        per_size.append(entry)
    statuses = {entry["status"] for entry in per_size}
    status = "failed" if "failed" in statuses else "passed" if statuses == {"passed"} else "inconclusive"
    parts = []
    for e in per_size:
        text = (f"at {e['train_size']}, mean {e['null_mean']:.3f} (95% CI {e['null_ci'][0]:.3f} to "
                f"{e['null_ci'][1]:.3f}, sd {e['null_sd']:.3f}, {e['n_permutations']} fits); the real fit "
                f"{e['real_mean']:.3f}, p = {e['p_value']:.3g}")
        if "network_runs" in e:
            text += (f"; {e['network_inside_null']} of {len(e['network_runs'])} network runs on shuffled labels "
                     f"inside the null's 95% range ({e['null_quantiles'][0]:.3f}-{e['null_quantiles'][1]:.3f})")
        parts.append(text)
    kind = per_size[0]["kind"] if per_size else "kmer_logreg"
    head = f"The label-permutation control ({kind} refitted on permuted training labels, test AUROC) "
    if status == "passed":
        sentence = head + "is at chance, as it must be: " + "; ".join(parts) + "."
    elif status == "failed":
        sentence = (head + "is NOT at chance: " + "; ".join(parts) + ". This points to leakage between splits or a "
                    "bug: do not trust the other numbers until it is explained.")
    else:
        sentence = head + "is inconclusive (raise controls.permutation.n_permutations): " + "; ".join(parts) + "."
    return {"status": status, "per_train_size": per_size, "sentence": sentence}


def shortcut_check(frame: pd.DataFrame) -> dict | None:
    """How much of each model's score composition alone explains: per model and train size, the mean test AUROC,
    the mean on dinucleotide-shuffled test sequences, and the share of the margin over chance that survives the
    shuffle ((shuffled - 0.5) / (test - 0.5)); the sentence names the largest share at the largest train size."""
    if frame is None or frame.empty:
        return None
    from .stats import run_label

    frame = frame.assign(model=[run_label(p, s) for p, s in zip(frame["pretrained"], frame["strategy"])])
    table = frame.groupby(["model", "train_size"], as_index=False)[["auroc_test", "auroc_shuffled"]].mean()
    margin = table["auroc_test"] - 0.5
    clear = margin > 0.02  # a margin over chance to take a share of
    table["composition_share"] = np.where(clear, (table["auroc_shuffled"] - 0.5) / margin.where(clear, 1.0), np.nan)
    largest = table[table["train_size"] == table["train_size"].max()]
    def share(value: float) -> str:
        if not np.isfinite(value):
            return ""  # no margin over chance to share
        if value <= 0:
            return " (none of its margin over chance survives)"
        return f" ({100 * min(value, 1.0):.0f}% of its margin over chance survives)"

    described = "; ".join(f"{r.model} {r.auroc_test:.3f} -> {r.auroc_shuffled:.3f}{share(r.composition_share)}"
                          for r in largest.sort_values("model").itertuples())
    sentence = (f"Shortcut control: at {int(largest['train_size'].iloc[0])} training examples, test AUROC on the "
                f"test sequences -> on the same sequences dinucleotide-shuffled (2-mer composition kept, order "
                f"destroyed): {described}. What survives the shuffle above 0.5 is what composition alone explains.")
    return {"per_model": table.to_dict(orient="records"), "sentence": sentence}
