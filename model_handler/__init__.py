"""GLiNER model access: checkpoints, measuring text, the RunInference handler."""
