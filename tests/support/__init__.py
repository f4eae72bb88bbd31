"""Helpers shared by tests: a manual clock and condition waits with deadlines."""
