"""Widgets of the feedback console."""
