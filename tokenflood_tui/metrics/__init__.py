"""What is measured and judged: request records, the summary model, saturation, thresholds."""
