"""The workflow on a real Slurm cluster, through profiles/slurm and snakemake-executor-plugin-slurm.

Needs the one-node cluster of tests/slurm/start-cluster.sh (see tests/slurm/README.md). Skips only when `sinfo`
is not on PATH or the cluster does not answer; with SEQTUNE_REQUIRE_SLURM=1 (CI) those fail instead of skipping.
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import BIN, REPO

PROFILE = REPO / "profiles" / "slurm"
CONFIG = REPO / "tests" / "configs" / "slurm.yaml"
# The partition of tests/slurm/start-cluster.sh's slurm.conf.
PARTITION = "local"
# Rules whose jobs the profile gives one GPU (`gpu: 1` -> `sbatch --gpus=1`).
GPU_RULES = {"pretrain", "finetune"}
# The whole run: about 14 Slurm jobs, 2-4 minutes on 2 cores; the limit leaves room for a slow machine.
RUN_TIMEOUT = 900

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _cluster_problem() -> str | None:
    """Why the test cluster cannot be used, or None when it is up."""
    if shutil.which("sinfo") is None:
        return "sinfo is not on PATH (start the cluster with tests/slurm/start-cluster.sh)"
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--partition", PARTITION, "--format", "%t"],
            capture_output=True, text=True, timeout=15,
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld is not answering (tests/slurm/start-cluster.sh starts it)"
    states = result.stdout.split()
    if result.returncode != 0 or not set(states) & {"idle", "mix", "alloc"}:
        return (f"the Slurm test cluster is not up (partition {PARTITION!r}: {states or result.stderr.strip()}); "
                "start it with tests/slurm/start-cluster.sh")
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    problem = _cluster_problem()
    if problem:
        if os.environ.get("SEQTUNE_REQUIRE_SLURM") == "1":
            pytest.fail(problem)
        pytest.skip(problem)


def _test_overrides() -> list[str]:
    """Command-line flags for the local test cluster, on top of the profile.

    * partition: the test cluster's (a `--default-resources` on the command line replaces the profile's whole
      entry, so the profile's other default resources are passed again); no account (none is configured, so the
      plugin's guess finds none and it submits without `-A`).
    * status: the cluster has no accounting storage (no slurmdbd), so `sacct` fails: poll with `squeue`, which sees
      finished jobs for MinJobAge (30 min in the test cluster's slurm.conf).
    * polling: the plugin checks 40 s after a submission by default and adds 10 s after every check that found
      nothing finished; a 3 s first check (then 13 s, 23 s, ...) saves minutes on a run of 14 short jobs.
    * keep the Slurm logs of successful jobs, to show them if an assertion fails.
    * no retries: nothing should fail on the test cluster, and a failure then shows at once (and every job has
      exactly one Slurm job).
    """
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    resources = {
        key: value
        for key, value in (profile.get("default-resources") or {}).items()
        if key not in ("slurm_partition", "slurm_account")
    }
    resources["slurm_partition"] = PARTITION
    return [
        "--default-resources", *(f"{key}={value}" for key, value in resources.items()),
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "3",
        "--seconds-between-status-checks", "3",
        "--slurm-keep-successful-logs",
        "--retries", "0",
    ]


def _run_snakemake(workdir: Path, log_path: Path) -> int:
    env = os.environ.copy()
    # The venv running the test has snakemake and seqtune; sbatch --export=ALL hands this PATH to the jobs.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--configfile", str(CONFIG),
        "--workflow-profile", str(PROFILE),
        *_test_overrides(),
    ]
    with log_path.open("w") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            return process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)  # snakemake cancels its Slurm jobs on an interrupt
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            _cancel_run(log_path.read_text())
            pytest.fail(f"snakemake did not finish in {RUN_TIMEOUT} s:\n{_tail(log_path.read_text())}")


def _cancel_run(log_text: str) -> None:
    match = re.search(r"SLURM run ID: (\S+)", log_text)
    if match:
        subprocess.run(["scancel", "--name", match.group(1)], check=False, timeout=30)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """The cluster's record of this run's jobs (the plugin names every job after the run id): id -> fields."""
    result = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--name", run_id, "--format", "%i|%T|%k"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    jobs = {}
    for line in result.stdout.splitlines():
        job_id, state, comment = line.strip().split("|", 2)
        details = subprocess.run(
            ["scontrol", "--details", "--oneliner", "show", "job", job_id], capture_output=True, text=True,
            timeout=30, check=True,
        ).stdout
        # The plugin's comment is rule_<rule> or rule_<rule>_wildcards_<values>.
        rule = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", comment.strip()).group(1)
        jobs[job_id] = {"state": state, "rule": rule, "details": details}
    return jobs


def _slurm_logs(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "\n".join(f"--- {path.relative_to(workdir)}\n{_tail(path.read_text(), 30)}" for path in logs)


def test_workflow_runs_through_slurm(slurm_cluster, tmp_path):
    log_path = tmp_path / "snakemake.log"
    started = time.monotonic()
    returncode = _run_snakemake(tmp_path, log_path)
    elapsed = time.monotonic() - started
    log_text = log_path.read_text()
    print(f"snakemake on Slurm: exit {returncode} after {elapsed:.0f} s")

    # 1. The run succeeded.
    assert returncode == 0, f"snakemake failed:\n{_tail(log_text, 80)}\n{_slurm_logs(tmp_path)}"

    # 2. Every job that is not local went through Slurm: snakemake announces each job as `rule NAME:` (submitted)
    #    or `localrule NAME:` (run here: rules without a command, such as the `default` target, and `localrules`).
    run_id = re.search(r"SLURM run ID: (\S+)", log_text).group(1)
    announced = re.findall(r"^(local)?rule (\w+):$", log_text, flags=re.MULTILINE)
    remote_rules = Counter(rule for local, rule in announced if not local)
    local_rules = Counter(rule for local, rule in announced if local)
    total = int(re.search(r"^total\s+(\d+)$", log_text, flags=re.MULTILINE).group(1))
    assert sum(remote_rules.values()) + sum(local_rules.values()) == total, (remote_rules, local_rules, total)
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log_text)
    assert len(submitted) == len(set(submitted)) == sum(remote_rules.values()), (submitted, remote_rules)

    # ... and the cluster agrees: the run's jobs, one per submission, all completed, rule by rule.
    jobs = _slurm_jobs(run_id)
    assert set(jobs) == set(submitted), (sorted(jobs), sorted(submitted))
    assert all(job["state"] == "COMPLETED" for job in jobs.values()), {i: j["state"] for i, j in jobs.items()}
    assert Counter(job["rule"] for job in jobs.values()) == remote_rules
    assert {"simulate", "split", "pretrain", "finetune", "evaluate", "baseline"} <= set(remote_rules), remote_rules
    # The hyperparameter search: every trial slot of every model (scratch, full, kmer_logreg; 2 each) a Slurm job.
    assert remote_rules["tune_trial"] == 6 and local_rules["tune_export"] == 3, (remote_rules, local_rules)
    # The seconds-long collecting rules run in snakemake itself (`localrule: True`), not through the queue.
    assert {"aggregate", "report", "config_snapshot"} <= set(local_rules) and not {
        "aggregate", "report", "config_snapshot", "model_card", "interpretation_summary"} & set(remote_rules)

    # 3. pretrain and finetune were submitted with --gpus=1 (Slurm records the request as TresPerJob=gres:gpu:1, or
    #    gres/gpu:1 from 23.02 on) and got the node's gres gpu (JOB_GRES=gpu:1); no other rule asked for a GPU.
    for job_id, job in jobs.items():
        requested = re.search(r"TresPerJob=\S*gres[:/]gpu:(\d+)", job["details"])
        allocated = re.search(r"JOB_GRES=\S*gpu(?::\w+)?:(\d+)", job["details"])
        expected = "1" if job["rule"] in GPU_RULES else None
        assert (requested.group(1) if requested else None) == expected, (
            f"{job['rule']} job {job_id}: expected --gpus={expected}, Slurm has:\n{job['details']}")
        assert (allocated.group(1) if allocated else None) == expected, (
            f"{job['rule']} job {job_id}: expected {expected} GPU allocated, Slurm has:\n{job['details']}")
    # ... and the training commands got --gpus 1 (resources.gpu): seqtune uses CUDA, or says it has none.
    for training_log in [tmp_path / "logs" / "pretrain" / "motifs.log",
                         *sorted((tmp_path / "logs" / "finetune").rglob("*.log"))]:
        text = training_log.read_text()
        assert re.search(r"asked for 1 GPU\(s\) but CUDA is not available|device: cuda", text), (training_log, text)

    # 4. The study's results: one row per run (scratch, full fine-tuning, the k-mer baseline; n=60, seed 1).
    with (tmp_path / "results" / "metrics.tsv").open() as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t") if row["eval_subset"] == "all"]
    assert sorted((row["strategy"], row["pretrained"], row["train_size"], row["seed"]) for row in rows) == [
        ("full", "motifs", "60", "1"),
        ("kmer_logreg", "none", "60", "1"),
        ("scratch", "none", "60", "1"),
    ]
    for name in ("metrics.json", "transfer_gain.tsv", "report.html", "config.yaml"):
        assert (tmp_path / "results" / name).stat().st_size > 0, name
    for study in ("none/scratch", "motifs/full", "none/kmer_logreg"):
        chosen = json.loads((tmp_path / "results" / "tuning" / study / "n60" / "chosen.json").read_text())
        assert chosen["budget"] == 2 and chosen["params"], (study, chosen)


def test_pretraining_runs_as_two_srun_tasks_like_two_torchrun_processes(slurm_cluster, tmp_path):
    """DDP launched by `srun --ntasks=2` (seqtune reads SLURM_PROCID / SLURM_STEP_NUM_TASKS, gloo on the CPU) gives
    the outputs of the same training launched by torchrun (`--nproc 2`): the same ranks, shares and random streams."""
    from safetensors.torch import load_file
    from test_distributed import _corpus, _pretrain

    codes, manifest = _corpus(tmp_path)
    model = {"architecture": "cnn", "channels": 8, "n_blocks": 2, "pool_size": 2, "first_kernel_size": 7,
             "kernel_size": 3}
    training = {"batch_size": 32, "max_epochs": 3, "patience": 3, "learning_rate": 0.005}
    weights_torchrun, sidecar_torchrun, history_torchrun, _ = _pretrain(codes, manifest, tmp_path / "torchrun", 2,
                                                                       model, training, threads=1)
    out = tmp_path / "srun"
    out.mkdir()
    env = os.environ.copy()
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    command = ["srun", f"--partition={PARTITION}", "--ntasks=2", "--cpus-per-task=1", "--mem-per-cpu=2000",
               "--time=10", str(BIN / "seqtune"), "pretrain", "--codes", str(codes), "--manifest", str(manifest),
               "--weights", str(out / "model.safetensors"), "--history", str(out / "history.tsv"),
               "--model", json.dumps(model), "--training", json.dumps(training), "--seed", "11", "--threads", "1"]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-4000:]
    assert "process group: 2 processes (gloo, started by srun)" in process.stderr, process.stderr[-4000:]
    assert sorted(path.name for path in out.iterdir()) == ["history.tsv", "model.json", "model.safetensors"]
    weights_srun = load_file(str(out / "model.safetensors"))
    sidecar_srun = json.loads((out / "model.json").read_text())
    assert sidecar_srun["processes"] == sidecar_torchrun["processes"] == 2
    assert set(weights_srun) == set(weights_torchrun)
    for name, tensor in weights_torchrun.items():
        assert torch.equal(tensor, weights_srun[name]), name
    history_srun = pd.read_csv(out / "history.tsv", sep="\t")
    columns = ["epoch", "train_loss", "val_loss", "val_auroc"]
    assert history_srun[columns].equals(history_torchrun[columns])


# A one-rule workflow whose rule is named like seqtune's `simulate`, so that the Slurm profile's entry for it
# (`mem_mb: 4000 * attempt`) applies. The job fails as an out-of-memory kill would, unless it was given 8 GB.
RETRY_SNAKEFILE = """
rule all:
    input:
        "done.txt",


rule simulate:
    output:
        "done.txt",
    log:
        "logs/simulate.log",
    shell:
        "if [ {resources.mem_mb} -lt 8000 ]; then"
        " echo 'simulated out-of-memory kill at {resources.mem_mb} MB' > {log}; exit 1; fi;"
        " echo {resources.mem_mb} > {output}"
"""


def test_a_failed_job_is_resubmitted_with_the_profiles_larger_memory(slurm_cluster, tmp_path):
    """The profile's retries, for real: a job that fails at attempt 1 is submitted again, and Slurm records the
    larger memory request of attempt 2 (`mem_mb: 4000 * attempt` -> sbatch --mem 4000, then 8000)."""
    (tmp_path / "Snakefile").write_text(RETRY_SNAKEFILE)
    overrides = _test_overrides()
    del overrides[overrides.index("--retries"):overrides.index("--retries") + 2]  # the profile's retries: 2
    env = os.environ.copy()
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(tmp_path / "Snakefile"),
               "--workflow-profile", str(PROFILE), *overrides]
    process = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    log_text = process.stdout + process.stderr
    assert process.returncode == 0, _tail(log_text, 80)
    assert (tmp_path / "done.txt").read_text().strip() == "8000"

    run_id = re.search(r"SLURM run ID: (\S+)", log_text).group(1)
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log_text)
    jobs = _slurm_jobs(run_id)
    assert set(jobs) == set(submitted) and len(submitted) == 2, (submitted, jobs)
    first, second = sorted(submitted, key=int)
    memory = {job_id: re.search(r"MinMemoryNode=(\d+)M", jobs[job_id]["details"]).group(1) for job_id in jobs}
    assert (jobs[first]["state"], memory[first]) == ("FAILED", "4000"), jobs[first]
    assert (jobs[second]["state"], memory[second]) == ("COMPLETED", "8000"), jobs[second]
    assert all(job["rule"] == "simulate" for job in jobs.values())
