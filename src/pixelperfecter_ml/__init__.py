"""Optional ML-assisted grid estimation (needs the `ml` extra: torch)."""
