"""Analyse a whole music library into Parquet: `audioconcept batch LIBRARY... --out DIR`.

inputs  walk folders, globs, text and Parquet lists; a song's id is its path + size + mtime
schema  the songs and windows tables (columns documented there) and the rows that fill them
store   resumable part files: a killed run loses at most its unflushed batch; a re-run skips done songs
analyse one song through the runtime (`Model.predict` / `predict_windows`) into rows
local   --engine local: a process pool, one onnxruntime session per process
ray_engine  --engine ray: Ray Data tasks decode, an actor pool (one session per actor, CUDA if present) analyses
run     `run_batch(BatchConfig) -> BatchSummary`

pyarrow and Ray come with the `ray` extra; nothing here imports them until a batch runs.
"""
