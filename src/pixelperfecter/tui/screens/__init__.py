"""Screens of the feedback console."""
