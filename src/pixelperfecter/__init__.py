"""Pixel Perfecter: turn fake pixel art back into true pixel art."""

__version__ = "0.1.0"
