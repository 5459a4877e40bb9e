"""config/README.md documents every key of workflow/schemas/config.schema.yaml, in the right table, with its default;
the pages people read (README.md, docs/, bench/README.md) stay short, linked and free of machine paths.

The README has one markdown table per section (first column `key`). Under "Top level" and the `## split`-style
headings keys are written in full (`split.method`); the tables of a schema $def (DEF_TABLES) write them relative to
it (`task`), since the same keys sit under several paths (`pretrain.training`, `finetune.training`). `<name>` and
`<strategy>` stand for user-chosen keys (additionalProperties).
"""

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from conftest import REPO
from seqtune.train import TrainSettings

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
README_PATH = REPO / "config" / "README.md"
README = README_PATH.read_text()

TOP_LEVEL = {"seed", "results", "sequence_length", "background", "reproducibility"}  # documented under "Top level"
TRAINING = "Training settings (`pretrain.training`, `finetune.training`, `finetune.strategy_training.*`)"
DEF_TABLES = {
    "dataset": "`datasets.<name>`",
    "simulated_dataset": "Simulated data sets (`source: simulate`)",
    **dict.fromkeys(["fasta_dataset", "tsv_dataset", "bed_dataset"], "Data sets from files"),
    "training": TRAINING,
    "training_override": TRAINING,
    "predict_input": "Prediction inputs (`predict.inputs.<name>`)",
}
PLACEHOLDERS = {"finetune.strategy_training": "<strategy>"}  # for additionalProperties; "<name>" otherwise
FILE_SOURCES = {"fasta", "tsv", "bed"}  # "all" in a table's `sources` column

# Defaults that depend on other keys: the schema says null ("derived"), the README cell says from what.
DERIVED_DEFAULTS = {
    "predict.model.pretrained": "the first of pretrain.models",
    "predict.model.strategy": "full, or scratch / the model's first strategy",
    "predict.model.train_size": "the largest of finetune.train_sizes",
    "predict.model.seed": "the first of finetune.seeds",
    "controls.shuffled_labels.pretrained": "the first of pretrain.models",
    **{f"variant_effects.model.{key}": "as predict.model" for key in ("pretrained", "strategy", "train_size", "seed")},
    "variant_effects.rc_average": "as evaluation.rc_average",
}
# Training defaults the code overrides by use: TrainSettings says val_loss, fine-tuning passes val_score.
DERIVED_TRAINING_DEFAULTS = {"monitor": "val_loss for pretraining, val_score for fine-tuning (pipeline.py)"}


def readme_tables(text: str = README) -> dict[str, dict[str, dict[str, str]]]:
    """{heading: {key: {column: cell}}} of every markdown table whose first column is `key`."""
    tables, heading, header = {}, None, None
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif not line.startswith("|"):
            header = None
        elif header is None:
            header = [cell.strip() for cell in line.strip("|").split("|")]
        elif header[0] == "key" and not line.startswith("|---"):
            row = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
            key = row["key"].strip("`")
            assert key not in tables.get(heading, {}), f"'{heading}' documents `{key}` twice"
            tables.setdefault(heading, {})[key] = row
    return tables


class Key(NamedTuple):
    table: str  # the README heading of the table that documents it
    key: str  # how that table writes it
    path: str  # dotted path from the config's root
    source: str | None  # the data set / input source it belongs to (None: every source)
    node: dict
    required: bool


def _resolve(node: dict, table: str | None, key: str) -> tuple[dict, str | None, str]:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = SCHEMA["$defs"][name]
        if name in DEF_TABLES:
            table, key = DEF_TABLES[name], ""
    return node, table, key


def schema_keys(node: dict = SCHEMA, path: str = "", table: str | None = None, key: str = "", source=None):
    """Every property under ``node``, recursively, through $ref, allOf/then and object-valued additionalProperties."""
    node, table, key = _resolve(node, table, key)
    source = node.get("properties", {}).get("source", {}).get("const", source)
    for branch in node.get("allOf", []):
        yield from schema_keys(branch["then"], path, table, key, source)
    required = node.get("required", [])
    # A branch's `source: {const: ...}` restates the discriminator documented with its parent.
    children = [(name, child) for name, child in node.get("properties", {}).items()
                if not (name == "source" and "const" in child)]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and (extra.get("type") == "object" or "$ref" in extra):
        children.append((PLACEHOLDERS.get(path, "<name>"), extra))
    for name, child in children:
        child_table = table or ("Top level" if name in TOP_LEVEL else f"`{name}`")
        child_path, child_key = f"{path}.{name}".lstrip("."), f"{key}.{name}".lstrip(".")
        resolved = _resolve(child, child_table, child_key)[0]
        yield Key(child_table, child_key, child_path, source, resolved, name in required)
        yield from schema_keys(child, child_path, child_table, child_key, source)


KEYS = list(schema_keys())
CONTAINERS = {key.path.rsplit(".", 1)[0] for key in KEYS if "." in key.path}
LEAVES = [key for key in KEYS if key.path not in CONTAINERS]  # objects are documented by their keys
TABLES = readme_tables()


def render(value) -> str:
    """A default as YAML writes it: true, null, 0.3, [scratch, full], {}."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {render(v)}" for k, v in value.items()) + "}"
    return str(value)


def cell_defaults(cell: str, sources) -> dict:
    """`x` -> x for every source; `x` (fasta, tsv), `y` (bed) -> x for fasta and tsv, y for bed."""
    if re.fullmatch(r"`[^`]*`", cell):
        return dict.fromkeys(sources, cell.strip("`"))
    return {name: value for value, names in re.findall(r"`([^`]*)` \(([^)]*)\)", cell) for name in names.split(", ")}


ROWS: dict[tuple[str, str], list[Key]] = {}  # (table, key) -> the schema keys that row documents
for _key in LEAVES:
    ROWS.setdefault((_key.table, _key.key), []).append(_key)


@pytest.mark.parametrize("key", LEAVES, ids=[f"{key.path}[{key.source}]" for key in LEAVES])
def test_every_schema_key_has_a_row_in_its_table(key):
    assert key.key in TABLES.get(key.table, {}), (
        f"{key.path}: config/README.md has no row `{key.key}` in the table under '{key.table}'")


@pytest.mark.parametrize("row", list(ROWS), ids=lambda row: f"{row[0]}: {row[1]}")
def test_readme_row_states_the_schema_default(row):
    keys, cell = ROWS[row], TABLES.get(row[0], {}).get(row[1], {}).get("default")
    if cell is None:
        pytest.skip("no row (reported by test_every_schema_key_has_a_row_in_its_table)")
    assert cell.startswith("required") == any(key.required for key in keys), f"{row}: '{cell}' vs the schema"
    if "sources" in TABLES[row[0]][row[1]]:
        listed = TABLES[row[0]][row[1]]["sources"]
        listed = FILE_SOURCES if listed == "all" else set(listed.split(", "))
        assert listed == set().union(*({key.source} if key.source else FILE_SOURCES for key in keys)), row
    expected = {key.source: render(key.node["default"]) for key in keys if "default" in key.node}
    if keys[0].path in DERIVED_DEFAULTS:
        assert not re.fullmatch(r"`[^`]*`", cell), f"{row}: a derived default must say what it derives from"
        return
    if not expected:
        return
    assert cell_defaults(cell, expected) == expected, f"{row}: README says '{cell}', the schema {expected}"


def test_derived_defaults_are_schema_nulls():
    nulls = {key.path for key in LEAVES if key.node.get("default", "") is None}
    assert set(DERIVED_DEFAULTS) <= nulls


def test_every_readme_row_is_a_schema_key():
    known = {(key.table, key.key) for key in KEYS}
    rows = [(table, key) for table, rows in TABLES.items() for key in rows]
    assert [row for row in rows if row not in known] == []


def test_training_defaults_match_the_code():
    """The schema leaves training defaults to the code (TrainSettings); the README must state the code's."""
    table = TABLES[TRAINING]
    fields = {field.name: field.default for field in dataclasses.fields(TrainSettings)}
    assert set(table) == set(fields)
    wrong = {key: (table[key]["default"], render(default)) for key, default in fields.items()
             if key not in DERIVED_TRAINING_DEFAULTS and table[key]["default"] != f"`{render(default)}`"}
    assert wrong == {}
    for key in DERIVED_TRAINING_DEFAULTS:  # the code's default is at least named
        assert f"`{render(fields[key])}`" in table[key]["default"]


def _schema_path(path: str) -> str | None:
    """The schema path a config path falls under (user-chosen names match `<name>`), or None."""
    parts = path.split(".")
    for key in KEYS:
        schema_parts = key.path.split(".")
        if len(schema_parts) == len(parts) and all(s == p or s.startswith("<") for s, p in zip(schema_parts, parts)):
            return key.path
    return None


CONFIGS = sorted((REPO / "config").glob("*.yaml")) + sorted((REPO / "config" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("config_file", CONFIGS, ids=lambda path: str(path.relative_to(REPO)))
def test_config_keys_are_schema_keys(config_file):
    """The shipped configs (config/config.yaml first of all) write only schema keys, so only documented ones."""
    unknown, leaves = [], {key.path for key in LEAVES}

    def visit(node: dict, prefix: str = "") -> None:
        for name, value in node.items():
            path = f"{prefix}.{name}".lstrip(".")
            schema_path = _schema_path(path)
            if schema_path is None:
                unknown.append(path)
            elif isinstance(value, dict) and schema_path not in leaves:  # not into a leaf mapping (bed `paths`)
                visit(value, path)

    visit(yaml.safe_load(config_file.read_text()))
    assert unknown == []


# --- The pages people read: README.md, docs/*.md, bench/README.md, config/README.md ---------------------------------

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md", README_PATH]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# An absolute path under a home or work folder of some machine, e.g. slash-work-slash-name (spelt out here so that
# this file does not match itself).
MACHINE_PATH = re.compile(r"(^|[^A-Za-z0-9_.])/(work|home|root|Users)/[A-Za-z0-9._]", re.M)
ORDINALS = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|[0-9]+(?:st|nd|rd|th)"
SESSION = re.compile(rf"\b({ORDINALS})[ _-]session", re.I)


def slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]


LINKS = [(page, link) for page in PAGES for link in relative_links(page)]


def test_readme_is_short():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines: move detail to a page under docs/"


def test_readme_keeps_the_two_commands():
    """.ci/run calls the second; both must stay exactly as a new user copies them."""
    text = (REPO / "README.md").read_text()
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && snakemake --cores 2\n" in text
    assert "\nbash tests/run.sh\n" in text


@pytest.mark.parametrize("page, link", LINKS, ids=[f"{p.relative_to(REPO)}: {link}" for p, link in LINKS])
def test_relative_links_resolve(page, link):
    """Every relative link (and image) of the pages people read names a file or folder that exists, and an anchor
    (`page.md#heading`) a heading of that page."""
    path, _, anchor = link.partition("#")
    target = (page.parent / path).resolve() if path else page
    name = target.relative_to(REPO).as_posix() if target.is_relative_to(REPO) else str(target)
    assert target.exists(), f"{page.relative_to(REPO)} links to {link}, which does not exist"
    if anchor:
        assert target.suffix == ".md" and anchor in anchors(target), (
            f"{page.relative_to(REPO)} links to {link}: {name} has no heading '#{anchor}'")


def test_readme_links_every_docs_page():
    linked = {(REPO / link.partition("#")[0]).resolve() for link in relative_links(REPO / "README.md")}
    assert [p.name for p in sorted((REPO / "docs").glob("*.md")) if p.resolve() not in linked] == []


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [REPO / name for name in names.decode().split("\0") if name]
    return [f for f in files if f.is_file() and b"\0" not in f.read_bytes()[:8192]]  # a NUL byte: binary


def test_no_tracked_file_names_a_machine_path():
    found = [f"{f.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0).strip()}..."
             for f in tracked_text_files() for text in [f.read_text(errors="replace")]
             for m in MACHINE_PATH.finditer(text)]
    assert found == [], "absolute paths of one machine (write them relative to the repository):\n" + "\n".join(found)


def test_no_tracked_file_is_named_or_dated_by_session():
    """Results and notes are named by date and commit, not by the working session that made them."""
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.splitlines()
    found = [name for name in names if SESSION.search(name)]
    found += [f"{f.relative_to(REPO)}: {m.group(0)}" for f in tracked_text_files()
              for m in SESSION.finditer(f.read_text(errors="replace"))]
    assert found == []
