"""Provenance of a run: what produced a result, so that it can be traced and reproduced.

Nothing here depends on the clock or the host name, so two runs of the same config give identical records.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .io import sha256_file

PACKAGES = ("torch", "numpy", "pandas", "scikit-learn", "scipy", "pyjaspar", "pyfaidx", "safetensors", "snakemake")


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("seqtune", *PACKAGES):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the git work tree holding seqtune's code, when there is one (with '-dirty' if modified)."""
    folder = Path(path or __file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def config_hash(settings: dict) -> str:
    """SHA-256 of the settings as canonical JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def provenance(inputs: dict[str, str | Path], settings: dict, seeds: dict, device: str) -> dict:
    """Everything that determined a result: input checksums, settings and their hash, seeds, versions, device."""
    return {
        "inputs": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in inputs.items() if path},
        "settings_sha256": config_hash(settings),
        "seeds": seeds,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "device": device,
    }
