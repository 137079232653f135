"""Print the figures of tools/device result files compactly (for a terminal or a call's output tail)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

for arg in sys.argv[1:]:
    d = json.loads(Path(arg).read_text())
    if "rows" in d:  # bench results
        for r in d["rows"]:
            if "p50_ms" in r:
                print(
                    f"{r['model']:8} {r['backend']:22} {r['device']:5} t{r.get('threads')} b{r.get('batch')} "
                    f"{r['p50_ms']:9.3f} ms x{r.get('x_fastest', '-')} cold {r.get('cold_start_s')} "
                    f"rss {r.get('peak_rss_mb')}"
                )
    elif "threads" in d:  # cpu_threads
        for fam in ("onnx", "onnx_blas1", "torch"):
            for t, vals in (d.get(fam) or {}).items():
                if isinstance(vals, dict):
                    print(fam, t, " ".join(f"{k}={v}" for k, v in vals.items()))
                else:
                    print(fam, t, vals)
    else:
        print(json.dumps(d)[:3000])
