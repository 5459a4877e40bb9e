"""seqtune as a Snakemake module: another workflow imports every rule with a prefix and consumes metrics.tsv."""

import json
import os
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

    # Every seqtune output sits under the module prefix; the input file named in the config was read in place.
    study = tmp_path / "seqtune" / "study"
    metrics = pd.read_csv(study / "metrics.tsv", sep="\t")
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
