"""The one Beam metrics namespace the job reports under."""
NAMESPACE = 'gliner_beam'
