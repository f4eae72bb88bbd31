"""Sync UI: status widget for the status bar, conflict dialog, per-user session wiring."""
