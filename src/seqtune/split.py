"""Train/validation/test splits and nested training subsets for learning curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import SeqtuneError

SPLITS = ("train", "validation", "test")


def stratified_split(labels: pd.Series, validation_fraction: float, test_fraction: float, seed: int,
                     source: str = "labels", every_split: bool = True) -> np.ndarray:
    """Assign each example to train, validation or test, stratified by label.

    Each class is shuffled with the seed and cut at the requested fractions (rounded per class, at least one example
    per split from 3 examples up, and at least one left for training), so every split keeps the class balance.
    Returns an array of split names in the order of ``labels``.

    ``every_split``: the values are classes (single-label data), at least two, and each must reach train, test and
    (when ``validation_fraction`` > 0) validation; classes with fewer examples than that are an error naming every
    one of them, raised before anything is assigned. ``False`` for strata that are not classes (multi-label data:
    the number of labels set; data without labels: one stratum), where a stratum of one or two examples goes to
    training.
    """
    if not 0 <= validation_fraction < 1 or not 0 < test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise SeqtuneError(
            f"split fractions validation={validation_fraction}, test={test_fraction} must be in [0, 1) and sum to "
            "less than 1, leaving examples for training"
        )
    rng = np.random.default_rng(seed)
    # Integer class codes, classes sorted as np.unique sorts them (comparing strings per class is slow at 10^6).
    codes, classes = pd.factorize(labels.to_numpy(), sort=True)
    counts = np.bincount(codes, minlength=len(classes))
    assignment = np.empty(len(codes), dtype=object)
    if len(classes) < 2 and (every_split or len(classes) == 0):
        raise SeqtuneError(
            f"{source}: only one class ({classes[0] if len(classes) else 'none'}) present; a classifier needs at "
            "least two classes. Check the label column or add examples of the other class(es)"
        )
    needed = 3 if validation_fraction > 0 else 2  # one example for each split that is asked for
    if every_split and (counts < needed).any():
        raise SeqtuneError(_too_few_message(source, classes, counts, needed))
    by_class = np.argsort(codes, kind="stable")  # each class's members in increasing position
    ends = np.cumsum(counts)
    for count, end in zip(counts, ends):
        members = by_class[end - count:end]
        members = members[rng.permutation(members.size)]
        n_test = int(round(count * test_fraction))
        n_validation = int(round(count * validation_fraction))
        least = 1 if count >= 3 or every_split else 0  # every_split: count >= needed here
        if n_test < least:
            n_test = least
        if validation_fraction > 0 and n_validation < least:
            n_validation = least
        while count - n_test - n_validation < 1:  # rounding took every example (e.g. 3 at 0.45/0.45): give one back
            if n_test >= n_validation and n_test > least:
                n_test -= 1
            else:
                n_validation -= 1
        assignment[members[:n_test]] = "test"
        assignment[members[n_test:n_test + n_validation]] = "validation"
        assignment[members[n_test + n_validation:]] = "train"
    return assignment


def _too_few_message(source: str, classes, counts: np.ndarray, needed: int, shown: int = 30) -> str:
    """The error for classes too small to reach every split: each class (up to ``shown``) with its count."""
    rare = np.flatnonzero(counts < needed)
    names = ", ".join(f"'{classes[i]}' ({counts[i]} example{'s' if counts[i] != 1 else ''})" for i in rare[:shown])
    if rare.size > shown:
        names += f" and {rare.size - shown} more"
    splits = "train, validation and test" if needed == 3 else "train and test"
    message = (f"{source}: {rare.size} of {len(classes)} classes {'has' if rare.size == 1 else 'have'} fewer than "
               f"{needed} examples, too few to have one in each of {splits} (a model must train on every class, "
               f"and validate and test on it): {names}; remove or merge the records of those classes (e.g. into a "
               "broader class), or collect more examples of them")
    singletons = int((counts == 1).sum())
    if singletons > max(5, len(classes) // 2):
        message += (f". {singletons} classes of a single example suggest the label column holds identifiers (for "
                    "BED input, label_column defaults to 4, the name field): set label_column to the column "
                    "holding the class")
    return message


def stratification_key(labels: pd.DataFrame) -> pd.Series:
    """One value per example to stratify on: the ``label`` column, or for multi-label tables the number of labels set
    (exact label combinations are too many to stratify on)."""
    if "label" in labels.columns:
        return labels["label"].astype(str)
    label_columns = [column for column in labels.columns if column != "id"]
    return labels[label_columns].sum(axis=1).clip(upper=3).astype(str)


def interleaved_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """An ordering of examples whose every prefix is (close to) class-balanced like the whole: each class is shuffled
    and its members get evenly spaced keys in (0, 1) with random jitter; sorting by key interleaves the classes in
    proportion. A rare class may first appear late."""
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(members.size)]
        keys[members] = (np.arange(members.size) + rng.random(members.size)) / members.size
    return np.argsort(keys, kind="stable")


def nested_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """The order training subsets are taken in: the first n examples form the subset of size n, so subsets are
    nested (the 100 are inside the 300) and class-balanced (:func:`interleaved_order`).

    The first example of each class is moved to the front (in the same order), so every prefix of at least as many
    examples as there are classes holds every class. A prefix that held every class already holds the same examples
    as before the move (in another order), so the subsets of data whose classes are all well represented do not
    change.
    """
    order = interleaved_order(labels, seed)
    first = np.sort(np.unique(np.asarray(labels)[order], return_index=True)[1])  # where each class first appears
    rest = np.ones(order.size, dtype=bool)
    rest[first] = False
    return np.concatenate([order[first], order[rest]])


def training_subset(train_positions: np.ndarray, train_labels: np.ndarray, size: int, seed: int,
                    source: str = "training split") -> np.ndarray:
    """Positions of the nested, stratified training subset of ``size`` examples (sorted); it holds every class of
    the training split (see :func:`nested_order`), so ``size`` must be at least the number of classes."""
    if size < 1:
        raise SeqtuneError(f"train size {size} must be at least 1")
    if size > len(train_positions):
        raise SeqtuneError(
            f"train size {size} is larger than the {len(train_positions)} examples in the {source}; "
            f"lower finetune.train_sizes to at most {len(train_positions)}, or simulate/provide more data"
        )
    classes = np.unique(train_labels)
    if size < len(classes):
        raise SeqtuneError(
            f"train size {size} is smaller than the {len(classes)} classes of the {source}; a training subset needs "
            f"at least one example of every class: raise finetune.train_sizes to at least {len(classes)}, or merge "
            "rare classes"
        )
    order = nested_order(train_labels, seed)
    chosen = np.sort(train_positions[order[:size]])
    return chosen


def split_summary(labels: pd.Series, assignment: np.ndarray) -> dict:
    """Counts per class per split, as a JSON-friendly dict."""
    frame = pd.DataFrame({"label": labels.to_numpy(), "split": assignment})
    counts = frame.groupby(["split", "label"]).size()
    summary = {split: {str(label): int(n) for label, n in counts.get(split, pd.Series(dtype=int)).items()}
               for split in SPLITS}
    return {"counts": summary, "totals": {split: int((assignment == split).sum()) for split in SPLITS}}


# ------------------------------------------------------------------------------------ splits that respect structure
def chromosome_split(chroms, validation_chroms, test_chroms, source: str = "labels") -> np.ndarray:
    """Assign each example to a split by its chromosome: the listed ones to validation and test, the rest to train.

    Parameters
    ----------
    chroms : array-like of str, shape (N,)
        The chromosome of each example (``labels.tsv`` column ``chrom`` of a BED import).
    validation_chroms, test_chroms : list of str
        Chromosomes held out for validation and for test; disjoint, and each present in ``chroms``.

    Returns
    -------
    numpy.ndarray of str, shape (N,)
        ``train``, ``validation`` or ``test`` per example.
    """
    chroms = np.asarray(chroms, dtype=object).astype(str)
    validation_chroms, test_chroms = [str(c) for c in validation_chroms], [str(c) for c in test_chroms]
    both = sorted(set(validation_chroms) & set(test_chroms))
    if both:
        raise SeqtuneError(f"chromosome(s) {', '.join(both)} are listed for both validation and test; "
                           "give each chromosome to one split")
    present = set(np.unique(chroms).tolist())
    absent = [c for c in validation_chroms + test_chroms if c not in present]
    if absent:
        shown = ", ".join(sorted(present)[:10]) + (", ..." if len(present) > 10 else "")
        raise SeqtuneError(f"{source}: chromosome(s) {', '.join(absent)} hold no examples (the data have {shown}); "
                           "fix the chromosome names in the split settings")
    assignment = np.full(chroms.shape, "train", dtype=object)
    assignment[np.isin(chroms, validation_chroms)] = "validation"
    assignment[np.isin(chroms, test_chroms)] = "test"
    for split in SPLITS:
        if not (assignment == split).any():
            raise SeqtuneError(f"{source}: the {split} split is empty with validation chromosomes "
                               f"{validation_chroms} and test chromosomes {test_chroms}; list at least one "
                               f"chromosome for it{' and leave some for training' if split == 'train' else ''}")
    return assignment


_MASK64 = (1 << 64) - 1


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash of each uint64 (wrapping arithmetic)."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def canonical_codes(codes: np.ndarray) -> np.ndarray:
    """Each row or its reverse complement, whichever is lexicographically smaller: (N, L) uint8.

    A sequence and its reverse complement have the same canonical form.
    """
    from .sequence import reverse_complement

    codes = np.asarray(codes)
    reverse = reverse_complement(codes)
    differs = codes != reverse
    first = differs.argmax(axis=1)
    rows = np.arange(codes.shape[0])
    use_reverse = differs.any(axis=1) & (reverse[rows, first] < codes[rows, first])
    return np.where(use_reverse[:, None], reverse, codes)


def row_ids(codes: np.ndarray) -> np.ndarray:
    """An id per row (N,) int64, equal for identical rows (numbered in order of first appearance)."""
    codes = np.ascontiguousarray(codes)
    if codes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    keys = codes.view(np.dtype((np.void, codes.shape[1] * codes.itemsize))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    # renumber by first appearance so ids do not depend on byte order
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()].astype(np.int64)


def canonical_kmer_hashes(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the canonical k-mers of each row, and which k-mers are free of N.

    Parameters
    ----------
    codes : numpy.ndarray, shape (N, L), uint8 codes 0-4
    k : int, 1 <= k <= 31

    Returns
    -------
    hashes : numpy.ndarray, shape (N, L - k + 1), uint64
        splitmix64 of min(k-mer, reverse-complement k-mer), 2 bits per base.
    valid : numpy.ndarray, shape (N, L - k + 1), bool
        False where the k-mer contains an N.
    """
    if not 1 <= k <= 31:
        raise SeqtuneError(f"k-mer size {k} must be between 1 and 31")
    codes = np.asarray(codes)
    n, length = codes.shape
    width = length - k + 1
    if width < 1:
        return np.zeros((n, 0), dtype=np.uint64), np.zeros((n, 0), dtype=bool)
    bases = np.minimum(codes, 3).astype(np.uint64)
    forward = np.zeros((n, width), dtype=np.uint64)
    reverse = np.zeros((n, width), dtype=np.uint64)
    for offset in range(k):
        window = bases[:, offset:offset + width]
        forward = (forward << np.uint64(2)) | window
        reverse |= (np.uint64(3) - window) << np.uint64(2 * offset)
    ambiguous = np.concatenate([np.zeros((n, 1), dtype=np.int64), np.cumsum(codes == 4, axis=1)], axis=1)
    valid = (ambiguous[:, k:] - ambiguous[:, :width]) == 0
    return _mix64(np.minimum(forward, reverse)), valid


def minhash_signatures(codes: np.ndarray, k: int = 8, n_hashes: int = 128, seed: int = 0,
                       max_block: int = 1 << 21) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of the sets of canonical k-mers (so a sequence and its reverse complement match).

    The fraction of equal entries between two signatures estimates the Jaccard similarity of their k-mer sets
    (standard error about sqrt(J(1 - J) / n_hashes)). Hash family: ``a * h + b`` (mod 2^64, odd ``a``) over the
    splitmix64 hash ``h`` of each k-mer. Rows are processed in blocks of about ``max_block`` k-mers.

    Returns
    -------
    signatures : numpy.ndarray, shape (N, n_hashes), uint64
    has_kmers : numpy.ndarray, shape (N,), bool
        False for rows with no N-free k-mer (their signature is meaningless).
    """
    codes = np.asarray(codes)
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(0, 1 << 63, size=n_hashes, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    offsets = rng.integers(0, 1 << 63, size=n_hashes, dtype=np.uint64)
    n = codes.shape[0]
    signatures = np.full((n, n_hashes), _MASK64, dtype=np.uint64)
    has_kmers = np.zeros(n, dtype=bool)
    width = max(codes.shape[1] - k + 1, 1)
    rows_per_block = max(1, max_block // width)
    for start in range(0, n, rows_per_block):
        hashes, valid = canonical_kmer_hashes(codes[start:start + rows_per_block], k)
        if hashes.shape[1] == 0:
            continue
        block_has = valid.any(axis=1)
        has_kmers[start:start + len(hashes)] = block_has
        # Replace k-mers with N by a copy of a valid k-mer of the same row: the set, and so the minimum, is unchanged.
        first_valid = valid.argmax(axis=1)
        hashes = np.where(valid, hashes, hashes[np.arange(len(hashes)), first_valid][:, None])
        for column in range(n_hashes):
            signatures[start:start + len(hashes), column] = (hashes * multipliers[column] + offsets[column]).min(axis=1)
    return signatures, has_kmers


def _lsh_rows_per_band(n_hashes: int, threshold: float) -> int:
    """Rows per LSH band: the largest r (dividing n_hashes) whose S-curve midpoint (1/b)^(1/r) is at most 85% of the
    threshold, so pairs at the threshold become candidates with high probability."""
    best = 1
    for rows in range(1, n_hashes + 1):
        if n_hashes % rows == 0 and (rows / n_hashes) ** (1 / rows) <= 0.85 * threshold:
            best = rows
    return best


def similar_pairs(signatures: np.ndarray, threshold: float, max_bucket: int = 200,
                  batch_pairs: int = 1 << 18) -> np.ndarray:
    """Pairs of rows whose estimated Jaccard similarity is at least ``threshold``, found by LSH banding.

    Candidate pairs share all entries of at least one band; each is verified on the whole signature. Within a bucket
    only members fewer than ``max_bucket`` apart in the bucket's order are paired (huge buckets of low-complexity
    sequences would otherwise cost quadratic time); components still connect through the pairs that are made.

    Parameters
    ----------
    signatures : numpy.ndarray, shape (N, H), uint64

    Returns
    -------
    numpy.ndarray, shape (P, 2), int64, each pair (i, j) with i < j, unique
    """
    n, n_hashes = signatures.shape
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rows_per_band = _lsh_rows_per_band(n_hashes, threshold)
    candidates = []
    for band_start in range(0, n_hashes, rows_per_band):
        keys = signatures[:, band_start].copy()
        for column in range(band_start + 1, band_start + rows_per_band):
            keys = _mix64(keys ^ signatures[:, column])
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for distance in range(1, max_bucket + 1):
            same = sorted_keys[distance:] == sorted_keys[:-distance]
            if not same.any():
                break
            left, right = order[:-distance][same], order[distance:][same]
            candidates.append(np.minimum(left, right) * n + np.maximum(left, right))
    if not candidates:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(candidates))
    pairs = np.stack([codes // n, codes % n], axis=1)
    keep = np.zeros(len(pairs), dtype=bool)
    for start in range(0, len(pairs), batch_pairs):
        block = pairs[start:start + batch_pairs]
        agreement = (signatures[block[:, 0]] == signatures[block[:, 1]]).mean(axis=1)
        keep[start:start + batch_pairs] = agreement >= threshold
    return pairs[keep]


def connected_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components (union-find over ``pairs`` (P, 2)) of n items: a group id per item (N,), numbered in
    order of first appearance."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, components = connected_components(graph, directed=False)
    return row_ids(components[:, None].astype(np.int64))


def similarity_groups(codes: np.ndarray, k: int = 8, threshold: float = 0.5, n_hashes: int = 128,
                      seed: int = 0) -> np.ndarray:
    """Group sequences that are identical, reverse complements of each other, or near-identical.

    Identical and reverse-complement-identical sequences always share a group. Near-identity is the Jaccard
    similarity of the sets of canonical k-mers, estimated by MinHash (``n_hashes`` values) and found with LSH banding:
    pairs at or above ``threshold`` are joined with high probability (about 87% for a single pair exactly at 0.5, over
    98% from 0.6 up, with the defaults), pairs far below it almost never. Groups are the connected components, so
    near-duplicates of near-duplicates share a group. With k = 8 a 60-nt sequence with one substitution has a
    similarity of about 0.74 to the original, with two about 0.55; a 1-kb one keeps 0.5 down to about 95% identity.

    Cost: O(N L n_hashes) vectorised; about a minute for 10^5 sequences of 1 kb on one core.

    Parameters
    ----------
    codes : numpy.ndarray, shape (N, L), uint8 codes 0-4
    k : int
        k-mer size (1-31). Smaller k tolerates more substitutions; too small and unrelated sequences look alike.
    threshold : float in (0, 1]
        Jaccard similarity at and above which two sequences count as near-duplicates.

    Returns
    -------
    numpy.ndarray, shape (N,), int64
        Group id per sequence, numbered 0, 1, ... in order of first appearance.
    """
    if not 0 < threshold <= 1:
        raise SeqtuneError(f"similarity threshold {threshold} must be in (0, 1]")
    codes = np.asarray(codes)
    canonical = row_ids(canonical_codes(codes))
    representatives = np.unique(canonical, return_index=True)[1]  # first row of each canonical sequence
    signatures, has_kmers = minhash_signatures(codes[representatives], k, n_hashes, seed)
    usable = np.flatnonzero(has_kmers)
    pairs = similar_pairs(signatures[usable], threshold)
    groups = connected_groups(len(representatives), usable[pairs])
    return row_ids(groups[canonical][:, None])


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` items into whole counts proportional to ``weights`` (largest-remainder rounding)."""
    weights = np.asarray(weights, dtype=float)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    quotas = total * weights / weights.sum()
    counts = np.floor(quotas).astype(np.int64)
    shortfall = total - int(counts.sum())
    counts[np.argsort(-(quotas - counts), kind="stable")[:shortfall]] += 1
    return counts


def grouped_split(groups, labels, validation_fraction: float, test_fraction: float, seed: int,
                  source: str = "labels") -> np.ndarray:
    """Assign whole groups to train, validation or test, keeping each class's share close to the fractions.

    Groups of two or more members are placed first, largest first (ties in a seeded random order), each into the
    split whose remaining room for the group's labels is largest; single-member groups then fill the remaining room
    of each split class by class, in a seeded random order, so the totals come out close to the fractions unless
    one group is very large. (scikit-learn's ``StratifiedGroupKFold`` does the same job for whole folds only, and
    took over two minutes for 10^5 groups; this takes well under a second.)

    Parameters
    ----------
    groups : array-like, shape (N,)
        Group of each example (e.g. from :func:`similarity_groups`); a group never spans two splits.
    labels : array-like, shape (N,)
        Label (stratum) of each example.

    Returns
    -------
    numpy.ndarray of str, shape (N,)
        ``train``, ``validation`` or ``test`` per example.
    """
    if not 0 <= validation_fraction < 1 or not 0 < test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise SeqtuneError(
            f"split fractions validation={validation_fraction}, test={test_fraction} must be in [0, 1) and sum to "
            "less than 1, leaving examples for training")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels).astype(str)
    classes, label_index = np.unique(labels, return_inverse=True)
    _, group_index = np.unique(np.asarray(groups), return_inverse=True)
    group_index = group_index.ravel()
    n_groups = int(group_index.max()) + 1 if len(group_index) else 0
    counts = np.zeros((n_groups, len(classes)), dtype=np.int64)  # (G, C) members of each class in each group
    np.add.at(counts, (group_index, label_index.ravel()), 1)
    sizes = counts.sum(axis=1)
    fractions = np.array([1 - validation_fraction - test_fraction, validation_fraction, test_fraction])
    room = fractions[:, None] * counts.sum(axis=0)[None, :]  # (3, C) examples of each class each split still wants
    split_of_group = np.full(n_groups, -1, dtype=np.int64)
    multi = np.flatnonzero(sizes > 1)
    multi = multi[rng.permutation(len(multi))]
    for group in multi[np.argsort(-sizes[multi], kind="stable")]:
        split = int(np.argmax(room @ counts[group]))
        split_of_group[group] = split
        room[split] -= counts[group]
    singles = np.flatnonzero(sizes == 1)
    single_class = counts[singles].argmax(axis=1)
    for class_index in range(len(classes)):
        members = singles[single_class == class_index]
        members = members[rng.permutation(len(members))]
        quota = _largest_remainder(len(members), np.maximum(room[:, class_index], 0))
        split_of_group[members] = np.repeat(np.arange(3), quota)
    assignment = np.asarray(SPLITS, dtype=object)[split_of_group[group_index]]
    for split in SPLITS if validation_fraction > 0 else ("train", "test"):
        if not (assignment == split).any():
            raise SeqtuneError(f"{source}: the {split} split came out empty when splitting by group ({n_groups} "
                               "group(s)); add data, raise the similarity threshold (fewer, smaller groups), or "
                               "use a random split")
    return assignment
