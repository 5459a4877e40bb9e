"""Provenance of a run: what produced a result, so that it can be traced and reproduced.

Nothing here depends on the clock or the host name, so two runs of the same config give identical records.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .io import sha256_file
from .reproducibility import cpu_settings

FORMAT = "seqtune-provenance/1"
PACKAGES = ("torch", "numpy", "pandas", "scikit-learn", "scipy", "pyjaspar", "pyfaidx", "safetensors", "snakemake")


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("seqtune", *PACKAGES):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


@functools.lru_cache(maxsize=None)
def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the git work tree seqtune's code was loaded from, when there is one (with '-dirty' if tracked
    files differ from it); None for an installed package. Only a source tree whose root holds seqtune's
    ``pyproject.toml`` counts, so a virtual environment inside some other repository reports None, not that
    repository's commit."""
    root = Path(path).resolve() if path else Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "src" / "seqtune").is_dir():
        return None
    git = ["git", "--no-optional-locks", "-C", str(root)]
    try:
        top = subprocess.run([*git, "rev-parse", "--show-toplevel", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        lines = top.stdout.split()
        if top.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root:
            return None
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return lines[1] + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def config_hash(settings: dict) -> str:
    """SHA-256 of the settings as canonical JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def provenance(inputs: dict[str, str | Path | None], settings: dict, seeds: dict, device: str) -> dict:
    """Everything that determined a result: input checksums, settings and their hash, seeds, versions, device.

    ``inputs``: name -> file (None entries are left out), recorded with its path as given and its SHA-256.
    ``settings``: the configuration the step ran with (the config section relevant to it), recorded with
    ``settings_sha256``, the hash of its canonical JSON. No clock, no host name: reruns give identical records.
    ``cpu``: the kernels' instruction-set level and threads (``reproducibility.cpu_settings``), the same on one
    machine, and on any machine under ``reproducibility: portable``.
    """
    return {
        "format": FORMAT,
        "inputs": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in inputs.items() if path},
        "settings": settings,
        "settings_sha256": config_hash(settings),
        "seeds": seeds,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "device": str(device),
        "cpu": cpu_settings(),
    }


def results_provenance(config_path: str | Path | None, metrics_files: list[str], records: list[dict]) -> dict:
    """The study-level record (``results/provenance.json``): the hash of the whole config, versions, the checksum
    of every run's metrics file, and each run's own provenance (its inputs' checksums and settings hash) as its
    evaluation recorded it."""
    import yaml

    config = None
    if config_path:
        with open(config_path) as handle:
            config = yaml.safe_load(handle)
    runs = []
    for path, record in zip(metrics_files, records):
        identity = {key: record.get(key) for key in ("pretrained", "strategy", "train_size", "seed")}
        run = record.get("provenance") or {}
        runs.append({**identity, "metrics": str(path),
                     "inputs": run.get("inputs", {}), "settings_sha256": run.get("settings_sha256"),
                     "device": run.get("device")})
    return {
        "format": FORMAT,
        "config": str(config_path) if config_path else None,
        "config_sha256": config_hash(config) if config is not None else None,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "inputs": {str(path): {"path": str(path), "sha256": sha256_file(path)} for path in metrics_files},
        "runs": runs,
    }
