"""seqtune as a Snakemake module: another workflow imports every rule with a prefix and consumes metrics.tsv."""

import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest

from conftest import BIN, REPO

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "tests" / "module_example"


def test_a_host_workflow_runs_seqtune_as_a_module_and_reads_its_metrics(tmp_path):
    shutil.copy(EXAMPLE / "config.yaml", tmp_path / "config.yaml")
    subprocess.run([str(BIN / "python"), str(EXAMPLE / "make_data.py")], cwd=tmp_path, check=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.run([str(BIN / "snakemake"), "-s", str(EXAMPLE / "Snakefile"), "--directory", str(tmp_path),
                              "--cores", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-6000:]
    # seqtune's local rules stay local under the prefix (a global `localrules:` does not follow the renaming)
    assert "localrules directive specifies rules that are not present" not in process.stderr
    assert "localrule seqtune_aggregate:" in process.stderr and "localrule seqtune_report:" in process.stderr

    # Every seqtune output sits under the module prefix; the input file named in the config was read in place.
    study = tmp_path / "seqtune" / "study"
    metrics = pd.read_csv(study / "metrics.tsv", sep="\t")
    assert list(metrics.columns[:6]) == ["model", "strategy", "pretrained", "train_size", "seed", "eval_subset"]
    metrics = metrics[metrics["eval_subset"] == "all"]
    assert set(metrics["strategy"]) == {"scratch", "kmer_logreg"}
    assert (study / "report.html").is_file() and (study / "split" / "target" / "leakage.json").is_file()
    imported = json.loads((study / "data" / "target" / "dataset.json").read_text())["import"]["files"]
    assert [entry["path"] for entry in imported] == ["data/target.tsv"]

    # The host's own rule consumed seqtune's metrics table.
    assert int((tmp_path / "summary" / "n_runs.txt").read_text()) == len(metrics) == 2

    # Nothing left to do: the module's rules and the host's are complete and consistent.
    dry = subprocess.run([str(BIN / "snakemake"), "-s", str(EXAMPLE / "Snakefile"), "--directory", str(tmp_path),
                          "-n", "--cores", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]

    # The report works from the host (its caption read seqtune's keys from the host's config and failed).
    report = subprocess.run([str(BIN / "snakemake"), "-s", str(EXAMPLE / "Snakefile"), "--directory", str(tmp_path),
                             "--report", "report.zip", "--cores", "1"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert report.returncode == 0 and (tmp_path / "report.zip").stat().st_size > 0, report.stderr[-3000:]

    # A profile names the module's rules with their prefix (docs/cli.md): the training jobs then get its resources.
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("set-resources:\n  seqtune_finetune:\n    gpu: 1\n    mem_mb: 1234\n")
    planned = subprocess.run([str(BIN / "snakemake"), "-s", str(EXAMPLE / "Snakefile"), "--directory", str(tmp_path),
                              "--workflow-profile", str(profile), "-n", "--forceall", "--cores", "1"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert planned.returncode == 0, planned.stderr[-3000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", planned.stdout, flags=re.MULTILINE | re.DOTALL)
    finetunes = [body for rule, body in jobs if rule == "seqtune_finetune"]
    assert finetunes and all("mem_mb=1234" in body and "gpu=1" in body for body in finetunes), planned.stdout[-3000:]
