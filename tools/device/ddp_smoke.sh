#!/usr/bin/env bash
# ddp_smoke.sh OUT: one NCCL worker through torchrun on the GPU (the data-parallel path), on a small synthetic set.
set -euo pipefail
out=$1
python3 -c "
from pathlib import Path
from audioconcept.data.synth.generate import SynthConfig, generate_genres
if not Path('/tmp/smoke-synth/ground_truth.json').exists():
    generate_genres(SynthConfig(Path('/tmp/smoke-synth'), clips_per_genre=4, seconds=30.0, seed=0, workers=8))
"
start=$(date +%s.%N)
python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m audioconcept.cli train cnn \
  --data synth:/tmp/smoke-synth --device cuda --epochs 2 --patience 0 --no-augment --out /tmp/ddp-ck > "$out.log" 2>&1 \
  && rc=0 || rc=$?
end=$(date +%s.%N)
python3 - "$out" "$rc" "$start" "$end" <<'PY'
import json, sys, pathlib
out, rc, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
run = pathlib.Path("/tmp/ddp-ck/run.json")
d = {"rc": rc, "seconds": round(end - start, 1), "log_tail": pathlib.Path(out + ".log").read_text()[-1500:]}
if run.exists():
    r = json.loads(run.read_text())
    d.update({"device": r.get("device"), "distributed": r.get("distributed"), "epochs": len(r.get("history", []))})
pathlib.Path(out).write_text(json.dumps(d, indent=1))
print(json.dumps({k: v for k, v in d.items() if k != "log_tail"}))
PY
