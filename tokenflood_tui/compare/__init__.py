"""Comparing runs: which setup is faster, by how much, and whether the difference is real
(docs/compare.md). `samples` reads the per-request rows, `bootstrap` the statistics, `compare`
builds the typed `Comparison` every output reads (`output`: Markdown, JSON, chart)."""
