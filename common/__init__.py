"""Shared leaf layer: in-flight records, table schemas, metric names and the
small text rules every other package agrees on. Imports nothing of the
project, so anything may import it."""
