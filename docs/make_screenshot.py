#!/usr/bin/env python
"""The README's screenshot: the verdict and the learning curve of a finished run's report, as a PNG.

Cuts ``results/report.html`` down to its title, verdict and learning-curve figure (the report's own markup and style,
nothing redrawn), renders that with headless Chromium and trims the empty margin below. The file is named by the
run's date and commit, ``docs/img/report_<date>_<commit>.png``: the date is the report's (UTC), the commit is the last
one that changed the code or the default config (``src/``, ``workflow/``, ``Snakefile``, ``config/config.yaml``,
``pyproject.toml``) as of the commit ``results/provenance.json`` records, so that commits of documentation alone do
not rename the figure.

Run from the repository root after ``snakemake --cores 2`` (needs ``chromium`` on PATH; Debian: ``apt-get install
chromium``) with the venv's Python (Pillow comes with matplotlib):

    .venv/bin/python docs/make_screenshot.py [--report results/report.html] [--out-dir docs/img]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parents[1]
CODE = ["src", "workflow", "Snakefile", "config/config.yaml", "pyproject.toml"]
WIDTH = 1200


def run_commit(provenance: Path) -> str:
    """The short hash of the last commit that changed the code, as of the commit the run's provenance records."""
    recorded = json.loads(provenance.read_text()).get("git_commit") or "HEAD"
    recorded = recorded.removesuffix("-dirty")
    out = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=7", recorded, "--", *CODE], cwd=REPO,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def verdict_and_curve(report: str) -> str:
    """The report's head (its style) and body up to the end of the learning-curve image, without the navigation."""
    head = report[:report.index("<body")]
    start = report.index("<body")
    curves = report.index('id="curves"')
    end = report.index(">", report.index("<img", curves)) + 1
    body = re.sub(r"<nav>.*?</nav>", "", report[start:end], flags=re.S)
    return head + body + "\n</body></html>\n"


def render(html: Path, png: Path, height: int = 1600) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("make_screenshot: chromium is not on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="seqtune_chromium_") as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={WIDTH},{height}",
                        html.as_uri()], check=True, capture_output=True, timeout=120)


def trim(png: Path, margin: int = 16) -> Image.Image:
    """The image without the white space around its content (``margin`` pixels kept)."""
    image = Image.open(png).convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    left, top, right, bottom = box
    return image.crop((max(left - margin, 0), max(top - margin, 0), min(right + margin, image.width),
                       min(bottom + margin, image.height)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=REPO / "results" / "report.html")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--colors", type=int, default=256, help="palette size of the PNG (smaller file)")
    args = parser.parse_args()
    provenance = args.report.with_name("provenance.json")
    date = datetime.datetime.fromtimestamp(args.report.stat().st_mtime, datetime.timezone.utc).date().isoformat()
    commit = run_commit(provenance)
    out = args.out_dir / f"report_{date}_{commit}.png"
    with tempfile.TemporaryDirectory(prefix="seqtune_screenshot_") as tmp:
        html, raw = Path(tmp) / "verdict.html", Path(tmp) / "raw.png"
        html.write_text(verdict_and_curve(args.report.read_text()))
        render(html, raw)
        image = trim(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=args.colors).save(out, optimize=True)
    print(f"{out.relative_to(REPO) if out.is_relative_to(REPO) else out}: {image.width} x {image.height} px, "
          f"{out.stat().st_size / 1024:.0f} KB (run of {date}, code at {commit})")


if __name__ == "__main__":
    main()
