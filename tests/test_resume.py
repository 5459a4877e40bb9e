"""Kill and resume: a training job killed with SIGKILL and rerun with --rerun-incomplete continues from its last
checkpoint and ends bit for bit where an uninterrupted run ends (CPU)."""

import hashlib
import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from safetensors import safe_open

from conftest import BIN, REPO, snakemake

pytestmark = pytest.mark.slow

RUN = "none/scratch/n120/seed1"


def _config(folder):
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    config["finetune"]["training"] = {"max_epochs": 40, "patience": 40, "batch_size": 8, "checkpoint_every": 1}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return ["--configfile", str(folder / "config.yaml"), "--cores", "1", f"results/evaluate/{RUN}/metrics.json"]


def _checkpoint_epoch(path):
    try:
        with safe_open(str(path), framework="pt") as handle:
            return json.loads(handle.metadata()["progress"])["epoch"]
    except Exception:
        return 0


def test_sigkill_then_rerun_incomplete_matches_an_uninterrupted_run(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir(), killed.mkdir()
    snakemake(reference, *_config(reference))

    args = _config(killed)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(killed),
                                *args], env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    checkpoint = killed / "results" / "finetune" / RUN / "model.checkpoint.safetensors"
    deadline = time.monotonic() + 300
    while _checkpoint_epoch(checkpoint) < 5:
        assert process.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = _checkpoint_epoch(checkpoint)
    assert not (killed / "results" / "finetune" / RUN / "model.safetensors").exists()

    # What a user does after a kill: release Snakemake's lock, then rerun the incomplete job.
    snakemake(killed, *args, "--unlock")
    snakemake(killed, *args, "--rerun-incomplete")
    log = (killed / "logs" / "finetune" / f"{RUN}.log").read_text()
    assert "resumed from checkpoint" in log and f"after epoch {killed_at}" in log
    assert not checkpoint.exists()

    def digest(folder, name):
        return hashlib.sha256((folder / "results" / name).read_bytes()).hexdigest()

    assert digest(reference, f"finetune/{RUN}/model.safetensors") == digest(killed, f"finetune/{RUN}/model.safetensors")
    assert digest(reference, f"evaluate/{RUN}/metrics.json") == digest(killed, f"evaluate/{RUN}/metrics.json")
    history = (killed / "results" / "finetune" / RUN / "history.tsv").read_text().splitlines()
    assert len(history) == 41  # every epoch once, none repeated after the resume
