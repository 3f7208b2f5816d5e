#!/usr/bin/env python3
"""PyTorch yardstick for `bltpipe bench model`: the BLT entropy model's forward
(random bf16 weights at the real size) in eager mode and with torch.compile,
on the same shapes. Prints one JSON object per configuration.

Architecture as in modelio (pre-norm, RMSNorm eps 1e-5, interleaved-pair RoPE,
SwiGLU, no biases, causal sliding window of 512 keys including itself),
written here from the spec for timing only.

Usage: python3 bench/torch_baseline.py [--seconds 10] [--configs 512x128,8192x8]
       (SEQxROWS: rows of SEQ tokens per forward call)
"""
import argparse, json, time, math
import torch
import torch.nn.functional as F

DIM, LAYERS, HEADS, FFN, VOCAB, WINDOW, EPS = 768, 14, 12, 2048, 260, 512, 1e-5
HD = DIM // HEADS


def rope_tables(seq, device):
    freqs = 1.0 / (10000 ** (torch.arange(0, HD, 2, device=device, dtype=torch.float64) / HD))
    ang = torch.outer(torch.arange(seq, device=device, dtype=torch.float64), freqs)
    return ang.cos().float(), ang.sin().float()


def rope(x, cos, sin):  # x [B, H, S, HD]; interleaved pairs
    x2 = x.float().unflatten(-1, (HD // 2, 2))
    x0, x1 = x2[..., 0], x2[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2).type_as(x)


def rmsnorm(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).type_as(x) * w


class Model(torch.nn.Module):
    def __init__(self, attn):
        super().__init__()
        g = lambda *s: torch.nn.Parameter(torch.randn(*s, dtype=torch.bfloat16) * 0.02, requires_grad=False)
        self.tok = g(VOCAB, DIM)
        self.out = g(VOCAB, DIM)
        self.norm = torch.nn.Parameter(torch.ones(DIM, dtype=torch.bfloat16), requires_grad=False)
        self.layers = torch.nn.ModuleList()
        for _ in range(LAYERS):
            m = torch.nn.Module()
            m.wqkv, m.wo = g(3 * DIM, DIM), g(DIM, DIM)
            m.w13, m.w2 = g(2 * FFN, DIM), g(DIM, FFN)
            m.an = torch.nn.Parameter(torch.ones(DIM, dtype=torch.bfloat16), requires_grad=False)
            m.fn = torch.nn.Parameter(torch.ones(DIM, dtype=torch.bfloat16), requires_grad=False)
            self.layers.append(m)
        self.attn = attn

    def forward(self, tokens, cos, sin):
        b, s = tokens.shape
        x = self.tok[tokens]
        for m in self.layers:
            h = rmsnorm(x, m.an)
            q, k, v = (h @ m.wqkv.t()).view(b, s, 3, HEADS, HD).permute(2, 0, 3, 1, 4)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            a = self.attn(q, k, v).transpose(1, 2).reshape(b, s, DIM)
            x = x + a @ m.wo.t()
            h = rmsnorm(x, m.fn)
            g1, g3 = (h @ m.w13.t()).chunk(2, dim=-1)
            x = x + (F.silu(g1) * g3) @ m.w2.t()
        prom = x.float().norm(dim=-1)
        logp = torch.log_softmax((rmsnorm(x, self.norm) @ self.out.t()).float(), -1)
        ent = -(logp.exp() * logp).sum(-1)
        return ent, prom


def sdpa_window(seq, device):
    i = torch.arange(seq, device=device)
    mask = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < WINDOW)
    if seq <= WINDOW:
        return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def flex_window(seq, device):
    from torch.nn.attention.flex_attention import flex_attention, create_block_mask
    fn = lambda b, h, q, k: (k <= q) & (q - k < WINDOW)
    bm = create_block_mask(fn, None, None, seq, seq, device=device)
    fa = torch.compile(flex_attention)
    return lambda q, k, v: fa(q, k, v, block_mask=bm)


def measure(model, tokens, cos, sin, seconds):
    with torch.inference_mode():
        for _ in range(3):
            model(tokens, cos, sin)
        torch.cuda.synchronize()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(tokens, cos, sin)
            n += 1
        torch.cuda.synchronize()
        return n * tokens.numel() / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--configs", default="512x128,8192x8")
    a = ap.parse_args()
    dev = "cuda"
    torch.manual_seed(0)
    dense = 2 * (LAYERS * (4 * DIM * DIM + 3 * DIM * FFN) + VOCAB * DIM)
    for c in a.configs.split(","):
        seq, rows = map(int, c.split("x"))
        tokens = torch.randint(4, 260, (rows, seq), device=dev)
        cos, sin = rope_tables(seq, dev)
        for mode in ("eager", "compile"):
            attn = sdpa_window(seq, dev) if mode == "eager" or seq <= WINDOW else flex_window(seq, dev)
            m = Model(attn).to(dev)
            fwd = torch.compile(m) if mode == "compile" else m
            tps = measure(fwd, tokens, cos, sin, a.seconds)
            print(json.dumps({"impl": "torch-" + mode, "seq_len": seq, "rows": rows, "tokens_per_s": round(tps),
                              "tflop_per_s": round(tps * dense / 1e12, 1), "card": torch.cuda.get_device_name()}), flush=True)


if __name__ == "__main__":
    main()
