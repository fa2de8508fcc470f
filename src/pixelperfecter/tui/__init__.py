"""The Textual TUI (`perfecter tui`)."""
