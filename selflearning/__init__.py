"""Self-learning tools: gold data, evaluation, pseudo-labelling, fine-tuning,
the synthetic-data generator and the demo model's build.

A layer of its own on top of the job: these tools feed the job's
`pipeline.build.EnrichDocuments` and build their configuration from
`pipeline.config`, but the job never imports them, so the enrichment job
carries none of their code and a change here cannot break it.
"""
