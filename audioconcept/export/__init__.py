"""Export stage: one exporter per format behind `export_checkpoint` (needs the `train` extra)."""
