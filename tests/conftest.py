"""Shared fixtures: the repository root, and a runner for the real Snakemake workflow in a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the repository's workflow with the venv's snakemake, in ``workdir``; returns the finished process."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if check and process.returncode != 0:
        raise AssertionError(f"snakemake failed ({process.returncode}):\n{process.stdout[-3000:]}\n"
                             f"{process.stderr[-6000:]}")
    return process


def seqtune(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    process = subprocess.run([str(BIN / "seqtune"), *args], capture_output=True, text=True)
    if check and process.returncode != 0:
        raise AssertionError(process.stderr)
    return process


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny study run once, end to end, with the real workflow; returns its working folder."""
    workdir = tmp_path_factory.mktemp("tiny")
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", workdir / "config.yaml")
    snakemake(workdir, "--configfile", str(workdir / "config.yaml"), "--cores", "2")
    return workdir


def simulated_target(folder):
    """A small motif-grammar target (CTCF AND GATA1, one distractor; 300 x 60 nt) with its split, in ``folder``
    (data/codes.npy, manifest.tsv, summary.json): the data of the search and control unit tests."""
    from seqtune import pipeline

    pipeline.simulate(folder / "data", "motif_grammar", 300, 60, [], seed=3, required=["MA0139.2", "MA0035.4"],
                      distractors=["MA0080.5"])
    pipeline.split(str(folder / "data" / "codes.npy"), str(folder / "manifest.tsv"), str(folder / "summary.json"),
                   0.2, 0.3, seed=4)
    return folder
