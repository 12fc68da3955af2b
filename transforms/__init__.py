"""Beam transforms of the job: read, prepare, merge, write."""
