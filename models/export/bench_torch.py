#!/usr/bin/env python3
"""The torch side of bench/torch.ts: builds a --random-init model (the same seeded weights that
export_onnx.py exported to ONNX) and times forward passes on request, so both engines are timed
in the same run, in interleaved rounds, on the same weights.

Protocol (one JSON object per line on stdin and stdout):
  {"cmd": "threads", "n": 2}               -> {"ok": true, "threads": 2}
  {"cmd": "run", "batch": 8, "iters": 1}   -> {"seconds": ..., "images": 8}
  {"cmd": "embed", "batch": 2, "seed": 3}  -> {"embedding": [[...]], "input": <base64 float32>}
  {"cmd": "quit"}
The timed work is the card's output plus its pooling (as radcbir's embedTensor does), under
torch.inference_mode(), on a fixed random input [batch, C, H, W].
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cards", default=str(HERE.parent))
    args = ap.parse_args()

    import torch

    import export_onnx
    from reference import pool

    card, _ = export_onnx.load_card(Path(args.cards), args.model)
    module, _, _ = export_onnx.build_random(args.model, card, args.seed)
    module.eval()
    h, w = card["preprocess"]["size"]
    c = 1 if card["preprocess"]["channels"] == "gray" else 3
    inputs: dict[int, torch.Tensor] = {}

    def reply(obj) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        if msg["cmd"] == "threads":
            torch.set_num_threads(int(msg["n"]))
            reply({"ok": True, "threads": torch.get_num_threads()})
        elif msg["cmd"] == "run":
            b = int(msg["batch"])
            x = inputs.setdefault(b, torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(b)))
            with torch.inference_mode():
                t0 = time.perf_counter()
                for _ in range(int(msg["iters"])):
                    pool(card, module(x))
                dt = time.perf_counter() - t0
            reply({"seconds": dt, "images": b * int(msg["iters"])})
        elif msg["cmd"] == "embed":
            b = int(msg["batch"])
            x = torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(int(msg["seed"])))
            with torch.inference_mode():
                e = pool(card, module(x)).double()
            reply({"embedding": e.tolist(), "input": base64.b64encode(x.numpy().astype("<f4").tobytes()).decode()})
        else:
            reply({"error": f"unknown command {msg['cmd']}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
