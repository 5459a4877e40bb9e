"""Write data/target.tsv (150 sequences of 40 nt, label 'pos' when they contain GATAAG) in the working folder."""

from pathlib import Path

import numpy as np


def main(folder: Path = Path(".")) -> Path:
    rng = np.random.default_rng(0)
    path = folder / "data" / "target.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["id\tsequence\tlabel"]
    for i in range(150):
        sequence = "".join(rng.choice(list("ACGT"), 40))
        label = "pos" if i % 2 else "neg"
        if label == "pos":
            start = int(rng.integers(0, 34))
            sequence = sequence[:start] + "GATAAG" + sequence[start + 6:]
        rows.append(f"s{i}\t{sequence}\t{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


if __name__ == "__main__":
    main()
