"""What a live view shows, shared by headless and the TUI: feeds of polls and turns, the
failure throttle (number formats: outputs/formats.py, as the written tables use them too)."""
