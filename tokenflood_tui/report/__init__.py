"""report.html: one self-contained page per results folder and per comparison (docs/results.md#reporthtml)."""
