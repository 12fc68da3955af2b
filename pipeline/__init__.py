"""gliner-beam job: options, graph construction and the command line."""
