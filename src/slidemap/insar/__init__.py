"""InSAR point ingest: EGMS and generic CSV layouts, LOS geometry."""
