"""Offline-first record cache and sync engine (Qt-free)."""
