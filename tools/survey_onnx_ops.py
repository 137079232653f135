"""List the ONNX ops of exported bundles, to keep `runtime.graph_check.ALLOWED_OPS` derived from what our exports
write: `python tools/survey_onnx_ops.py BUNDLE_OR_ONNX...` (needs the `onnx` package, in the train extra).

Prints every (domain, op) per file, then those the allowlist lacks. Export a checkpoint of every arch with every
format first (`audioconcept export CK --formats onnx,int8 --int8 always`), then point this at the bundles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx

from audioconcept.runtime.graph_check import ALLOWED_OPS


def main(args: list[str]) -> int:
    files = [f for a in args for f in ([Path(a)] if a.endswith(".onnx") else sorted(Path(a).rglob("*.onnx")))]
    seen: set[tuple[str, str]] = set()
    for f in files:
        ops = {(n.domain, n.op_type) for n in onnx.load(str(f), load_external_data=False).graph.node}
        seen |= ops
        print(f"{f}: {' '.join(sorted(f'{d}:{o}' if d else o for d, o in ops))}")
    missing = sorted(seen - ALLOWED_OPS)
    print("not in ALLOWED_OPS:", ", ".join(f"{d}:{o}" if d else o for d, o in missing) or "none")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
