"""Backends: the seam between the Ray-compatible API and what runs the tasks."""
