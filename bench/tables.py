"""Plain-text tables for the benchmark scripts (imported as ``tables``: each script runs with bench/ on sys.path)."""

from __future__ import annotations


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Left-aligned columns under a header and a rule; a row without a column shows an empty cell."""
    columns = columns or list(rows[0])
    cells = [[fmt(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(cell[i]) for cell in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths)),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def fmt(value) -> str:
    """Figures to read, not to parse (the JSON line has them in full): thousands separators from 100 up."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)
