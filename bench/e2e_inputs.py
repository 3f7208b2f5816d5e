"""Inputs for the end-to-end GPU benchmark (bench/gpu.sh, E2E_FILES=N).

Writes a random model at the real BLT entropy model's size (dim 768, 14
layers, 12 heads, FFN 2048, window 512, bf16 safetensors) and a FineWeb-like
JSONL corpus: N files of 160 documents of 200-1,400 words drawn from the
README's vocabulary (~0.9 MB a file, ~5.4 k tokens a document).
"""
import argparse
import json
import os
import random

import torch
from safetensors.torch import save_file


def write_model(out):
    os.makedirs(out, exist_ok=True)
    D, L, H, F, V = 768, 14, 12, 2048, 260
    args = {"dim": D, "n_layers": L, "n_heads": H, "vocab_size": V, "ffn_dim_multiplier": 1.0,
            "multiple_of": 256, "norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 512,
            "max_seqlen": 8192}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"args": args}, f)
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    ones = lambda: torch.ones(D, dtype=torch.bfloat16)  # noqa: E731
    t = {"tok_embeddings.weight": rand(V, D), "output.weight": rand(V, D), "norm.weight": ones()}
    for i in range(L):
        p = f"layers.{i}."
        for w in ("wq", "wk", "wv", "wo"):
            t[p + f"attention.{w}.weight"] = rand(D, D)
        t[p + "feed_forward.w1.weight"] = rand(F, D)
        t[p + "feed_forward.w3.weight"] = rand(F, D)
        t[p + "feed_forward.w2.weight"] = rand(D, F)
        t[p + "attention_norm.weight"] = ones()
        t[p + "ffn_norm.weight"] = ones()
    save_file(t, os.path.join(out, "model.safetensors"))


def write_corpus(out, files):
    words = open("README.md").read().split() + open("modelio/README.md").read().split()
    rng = random.Random(1)
    os.makedirs(out, exist_ok=True)
    total = 0
    for k in range(files):
        with open(os.path.join(out, f"part-{k:03d}.jsonl"), "w") as f:
            for i in range(160):
                n = rng.randint(200, 1400)
                line = json.dumps({"id": f"doc{k}-{i}", "text": " ".join(rng.choice(words) for _ in range(n)),
                                   "url": f"https://example.org/{k}/{i}"}) + "\n"
                total += len(line)
                f.write(line)
    return total


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--files", type=int, default=48)
    a = ap.parse_args()
    write_model(a.model)
    print(f"# corpus: {a.files} files, {write_corpus(a.corpus, a.files)} bytes of JSONL", flush=True)
