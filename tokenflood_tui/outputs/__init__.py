"""What is written: the results folder, its journal, summary.md and the charts."""
