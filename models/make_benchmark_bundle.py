"""Write a RANDOM-WEIGHT benchmark bundle shaped like Wan 2.1 T2V 1.3B, to measure speed and memory.

The weights are random: the samples are noise and the reward means nothing. The bundle exists so
that the benchmarks (bench/throughput.cc, bench/memory.cc, bench/official_loop.py) run a denoiser
with the width, depth, head count, patching and token count of a real video model.

Where the numbers come from (github.com, read 2026-11):
  Wan-Video/Wan2.1 wan/configs/wan_t2v_1_3B.py   dim 1536, ffn_dim 8960, freq_dim 256, num_heads 12,
                                                 num_layers 30, patch_size (1,2,2), qk_norm,
                                                 cross_attn_norm, eps 1e-6, vae_stride (4,8,8)
  Wan-Video/Wan2.1 wan/configs/shared_config.py  text_len 512, param_dtype bfloat16,
                                                 num_train_timesteps 1000
  Wan-Video/Wan2.1 wan/modules/model.py          in_dim = out_dim = 16 latent channels, text_dim 4096,
                                                 the block (modulated LayerNorm, self-attention with
                                                 RMS-normed q/k and 3-D RoPE split 22/21/21 complex
                                                 pairs for frames/rows/columns, cross-attention on
                                                 the text tokens, tanh-GELU FFN) and the head
  Wan-Video/Wan2.1 wan/text2video.py             flow shift 5.0 (generate's default)
  tinnerhrhe/EvoSearch-codes Wan/evosearch.py    33 frames at height 832, width 480, so the latent is
                                                 [16, (33-1)/4+1, 832/8, 480/8] = [16, 9, 104, 60];
                                                 guide_scale 5.0, the 'dpm++' (SDE-DPM-Solver++) solver

Usage (torch 1.13 or newer; Debian's is /usr/bin/python3):
  /usr/bin/python3 models/make_benchmark_bundle.py                   # full size, models/benchmark-dit-full/
  /usr/bin/python3 models/make_benchmark_bundle.py --scale tiny      # 0.3 MB, for CPU runs
  /usr/bin/python3 models/make_benchmark_bundle.py --scale 0.25 --latent 3,26,16 --out /tmp/b
  /usr/bin/python3 models/make_benchmark_bundle.py --scale tiny --text 512,4096   # Wan-size conditions

With torch >= 2.0 attention is F.scaled_dot_product_attention (flash / memory-efficient kernels on
CUDA); torch 1.13 has no such op, so there it is computed in blocks of queries to bound memory.
An AOTInductor (.pt2) export cannot be made with torch 1.13: AOTInductor arrived in torch 2.2, .pt2
packages (torch._inductor.aoti_compile_and_package) in 2.6. A .pt2 loader would go behind
worker/module_loader.h.
"""
import argparse
import json
import math
import os
import shutil
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

CHANNELS = 16     # Wan's VAE latent channels (model.py in_dim/out_dim)
PATCH = (1, 2, 2)  # wan_t2v_1_3B.py patch_size
EPS = 1e-6

# Wan 2.1 T2V 1.3B at the EvoSearch Wan setting (sources in the docstring).
FULL = dict(dim=1536, layers=30, heads=12, ffn=8960, freq_dim=256, text_dim=4096, text_len=512, latent=(9, 104, 60))
# Small enough to commit and to run the whole Wan schedule on two CPU cores in seconds.
TINY = dict(dim=64, layers=2, heads=4, ffn=256, freq_dim=32, text_dim=64, text_len=16, latent=(3, 16, 16))


def scaled_config(scale: float) -> dict:
    """FULL shrunk by `scale` in width (heads, head dim 128 kept), depth, text and latent size."""
    even = lambda v: max(2, 2 * round(v / 2))  # latent H and W must split into 2x2 patches
    heads = max(1, round(FULL["heads"] * scale))
    return dict(dim=heads * 128, layers=max(1, round(FULL["layers"] * scale)), heads=heads,
                ffn=max(64, 64 * round(FULL["ffn"] * scale / 64)), freq_dim=FULL["freq_dim"],
                text_dim=max(64, 64 * round(FULL["text_dim"] * scale / 64)),
                text_len=max(8, round(FULL["text_len"] * scale)),
                latent=(max(1, round(FULL["latent"][0] * scale)), even(FULL["latent"][1] * scale),
                        even(FULL["latent"][2] * scale)))


def rope_tables(grid, head_dim: int):
    """cos/sin [L, 1, head_dim/2] of Wan's 3-D RoPE for a fixed (F, H, W) token grid: the head_dim/2
    rotation pairs split c - 2(c//3), c//3, c//3 over frames, rows and columns (theta 10000)."""
    c = head_dim // 2
    split = [c - 2 * (c // 3), c // 3, c // 3]
    angles = []
    for axis, (n_pairs, size) in enumerate(zip(split, grid)):
        inv = 1.0 / (10000.0 ** (torch.arange(0, 2 * n_pairs, 2, dtype=torch.float64) / (2 * n_pairs)))
        a = torch.outer(torch.arange(size, dtype=torch.float64), inv)  # [size, n_pairs]
        shape = [1, 1, 1, n_pairs]
        shape[axis] = size
        angles.append(a.view(shape).expand(grid[0], grid[1], grid[2], n_pairs))
    a = torch.cat(angles, dim=-1).reshape(-1, 1, c)
    return a.cos().float(), a.sin().float()


class SdpaAttention(nn.Module):
    """softmax(q k^T / sqrt(d)) v through torch's fused kernels (torch >= 2.0)."""

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(q, k, v)


class BlockedAttention(nn.Module):
    """The same attention in blocks of `block` queries, so the score matrix of a 14040-token video
    never exists whole (torch 1.13 has no fused attention)."""

    def __init__(self, block: int):
        super().__init__()
        self.block = block

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        scale = 1.0 / math.sqrt(q.size(-1))
        kt = k.transpose(-1, -2)
        out: List[Tensor] = []
        for start in range(0, q.size(2), self.block):
            w = torch.softmax(torch.matmul(q[:, :, start:start + self.block], kt) * scale, dim=-1)
            out.append(torch.matmul(w, v))
        return torch.cat(out, dim=2)


def make_attention(kind: str) -> nn.Module:
    return SdpaAttention() if kind == "sdpa" else BlockedAttention(2048)


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = EPS

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    """Wan's self- (with RoPE) or cross-attention: q/k/v/o projections, RMS-normed q and k."""

    def __init__(self, dim: int, heads: int, attention: str, rope: bool):
        super().__init__()
        self.heads = heads
        self.rope = rope
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim), RMSNorm(dim)
        self.attend = make_attention(attention)

    def split(self, x: Tensor, cos: Tensor, sin: Tensor, rotate: bool) -> Tensor:
        b, n = x.size(0), x.size(1)
        x = x.view(b, n, self.heads, -1)
        if rotate:
            pairs = x.float().view(b, n, self.heads, -1, 2)
            x0, x1 = pairs[..., 0], pairs[..., 1]
            x = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(3).to(x.dtype)
        return x.transpose(1, 2)  # [B, heads, L, head_dim]

    def forward(self, x: Tensor, context: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        q = self.split(self.norm_q(self.q(x)), cos, sin, self.rope)
        k = self.split(self.norm_k(self.k(context)), cos, sin, self.rope)
        v = self.split(self.v(context), cos, sin, False)
        out = self.attend(q, k, v).transpose(1, 2).flatten(2)
        return self.o(out)


class Block(nn.Module):
    def __init__(self, cfg: dict, attention: str):
        super().__init__()
        dim = cfg["dim"]
        self.norm1 = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.self_attn = Attention(dim, cfg["heads"], attention, rope=True)
        self.norm3 = nn.LayerNorm(dim, eps=EPS)
        self.cross_attn = Attention(dim, cfg["heads"], attention, rope=False)
        self.norm2 = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(dim, cfg["ffn"]), nn.GELU(approximate="tanh"), nn.Linear(cfg["ffn"], dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def forward(self, x: Tensor, e: Tensor, context: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        m = (self.modulation + e).chunk(6, dim=1)
        y = self.norm1(x) * (1 + m[1]) + m[0]
        x = x + self.self_attn(y, y, cos, sin) * m[2]
        x = x + self.cross_attn(self.norm3(x), context, cos, sin)
        return x + self.ffn(self.norm2(x) * (1 + m[4]) + m[3]) * m[5]


class Denoiser(nn.Module):
    """forward(x [B,16,F,H,W], t [B], cond [B, text_len*text_dim]) -> velocity like x (float32 in and
    out; computed in the weights' dtype)."""

    def __init__(self, cfg: dict, attention: str):
        super().__init__()
        dim, self.text_len, self.text_dim, self.freq_dim = cfg["dim"], cfg["text_len"], cfg["text_dim"], cfg["freq_dim"]
        f, h, w = cfg["latent"]
        self.grid = [f // PATCH[0], h // PATCH[1], w // PATCH[2]]
        self.patch = list(PATCH)
        self.channels = CHANNELS
        self.patch_embedding = nn.Conv3d(CHANNELS, dim, kernel_size=PATCH, stride=PATCH)
        self.text_embedding = nn.Sequential(nn.Linear(cfg["text_dim"], dim), nn.GELU(approximate="tanh"),
                                            nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(cfg["freq_dim"], dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6))
        self.blocks = nn.ModuleList([Block(cfg, attention) for _ in range(cfg["layers"])])
        self.head_norm = nn.LayerNorm(dim, eps=EPS, elementwise_affine=False)
        self.head = nn.Linear(dim, CHANNELS * PATCH[0] * PATCH[1] * PATCH[2])
        self.head_modulation = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)
        cos, sin = rope_tables(self.grid, dim // cfg["heads"])
        self.register_buffer("rope_cos", cos)
        self.register_buffer("rope_sin", sin)

    def timestep_embedding(self, t: Tensor) -> Tensor:
        half = self.freq_dim // 2
        freqs = torch.pow(10000.0, -torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = t.float().unsqueeze(1) * freqs.unsqueeze(0)
        return torch.cat([torch.cos(args), torch.sin(args)], dim=1)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        dtype = self.head.weight.dtype
        b = x.size(0)
        tokens = self.patch_embedding(x.to(dtype)).flatten(2).transpose(1, 2)  # [B, L, dim]
        e = self.time_embedding(self.timestep_embedding(t.to(x.device)).to(dtype))  # [B, dim]
        e6 = self.time_projection(e).view(b, 6, -1)
        context = self.text_embedding(cond.to(device=x.device, dtype=dtype).view(b, self.text_len, self.text_dim))
        for block in self.blocks:
            tokens = block(tokens, e6, context, self.rope_cos, self.rope_sin)
        m = (self.head_modulation + e.unsqueeze(1)).chunk(2, dim=1)
        out = self.head(self.head_norm(tokens) * (1 + m[1]) + m[0])  # [B, L, 16 * 1*2*2]
        f, h, w = self.grid[0], self.grid[1], self.grid[2]
        p = self.patch
        out = out.view(b, f, h, w, p[0], p[1], p[2], self.channels).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return out.reshape(x.shape).float()


class ByteEncoder(nn.Module):
    """forward(prompts) -> [B, text_len*text_dim]: token j of a prompt is row (byte j mod 256) of a fixed
    random table, padded with zero tokens to text_len as Wan pads its T5 output; "" is all zeros."""

    def __init__(self, text_len: int, text_dim: int):
        super().__init__()
        self.text_len = text_len
        self.text_dim = text_dim
        self.register_buffer("table", torch.randn(256, text_dim))

    def forward(self, prompts: List[str]) -> Tensor:
        out = torch.zeros(len(prompts), self.text_len, self.text_dim, device=self.table.device)
        for i in range(len(prompts)):
            text = prompts[i]
            for j in range(min(len(text), self.text_len)):
                out[i, j] = self.table[ord(text[j]) % 256]
        return out.flatten(1)


class FrameDecoder(nn.Module):
    """A stand-in for the VAE: pixels = sigmoid(fixed random 1x1x1 projection 16 -> 3), [B,3,F,H,W]."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv3d(CHANNELS, 3, kernel_size=1)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.proj(z))


class ColourReward(nn.Module):
    """score = -mean over frames and channels of (mean frame colour - target colour)^2, the target being
    sigmoid of a fixed random projection of the prompt's mean token. Cheap, and only there so the search
    has something to rank; it measures nothing about video quality."""

    def __init__(self, text_len: int, text_dim: int):
        super().__init__()
        self.text_len = text_len
        self.text_dim = text_dim
        self.register_buffer("proj", torch.randn(text_dim, 3) / text_dim ** 0.5)

    def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
        b = pixels.size(0)
        target = torch.sigmoid(cond.view(b, self.text_len, self.text_dim).mean(1) @ self.proj)  # [B, 3]
        colour = pixels.mean(dim=[3, 4])  # [B, 3, F]
        return -((colour - target.unsqueeze(2)) ** 2).mean(dim=[1, 2])

    @torch.jit.export
    def features(self, pixels: Tensor) -> Tensor:
        return pixels.mean(dim=[3, 4]).flatten(1)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default="full", help="full, tiny, or a float in (0, 1] shrinking width, depth, text "
                                                    "and latent size (default full)")
    p.add_argument("--latent", help="F,H,W of the latent (overrides the scale's; H and W even)")
    p.add_argument("--text", help="TOKENS,WIDTH of the prompt condition (overrides the scale's; Wan: 512,4096)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="denoiser weights and compute (Wan runs in bfloat16); inputs and outputs stay float32")
    p.add_argument("--attention", default="auto", choices=["auto", "sdpa", "blocked"],
                   help="auto: sdpa where torch has it (>= 2.0), else blocked")
    p.add_argument("--out", help="bundle folder (default models/benchmark-dit-<scale>)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def config_for(args) -> dict:
    if args.scale == "full":
        cfg = dict(FULL)
    elif args.scale == "tiny":
        cfg = dict(TINY)
    else:
        scale = float(args.scale)
        if not 0 < scale <= 1:
            raise SystemExit(f"--scale {args.scale}: expected full, tiny or a number in (0, 1]")
        cfg = scaled_config(scale)
    if args.latent:
        f, h, w = (int(v) for v in args.latent.split(","))
        if f < 1 or h < 2 or w < 2 or h % 2 or w % 2:
            raise SystemExit(f"--latent {args.latent}: expected F,H,W with F >= 1 and H, W even (2x2 patches)")
        cfg["latent"] = (f, h, w)
    if args.text:
        tokens, width = (int(v) for v in args.text.split(","))
        if tokens < 1 or width < 1:
            raise SystemExit(f"--text {args.text}: expected TOKENS,WIDTH, both positive")
        cfg["text_len"], cfg["text_dim"] = tokens, width
    cfg["latent"] = tuple(cfg["latent"])
    return cfg


def save_script(module: nn.Module, path: str):
    module.eval()
    torch.jit.save(torch.jit.script(module), path)


def main():
    args = parse_args()
    cfg = config_for(args)
    attention = args.attention
    if attention == "auto":
        attention = "sdpa" if hasattr(F, "scaled_dot_product_attention") else "blocked"
    if attention == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
        raise SystemExit(f"--attention sdpa: torch {torch.__version__} has no F.scaled_dot_product_attention")
    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, f"benchmark-dit-{args.scale}")
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)

    denoiser = Denoiser(cfg, attention)
    with torch.no_grad():
        for p in denoiser.parameters():  # not the RoPE tables: Wan applies RoPE in float64, here float32
            p.data = p.data.to(dtype)
    params = sum(p.numel() for p in denoiser.parameters())
    f, h, w = cfg["latent"]
    tokens = (f // PATCH[0]) * (h // PATCH[1]) * (w // PATCH[2])
    described = (f"dim {cfg['dim']}, {cfg['layers']} layers, {cfg['heads']} heads, FFN {cfg['ffn']}, patch 1x2x2, "
                 f"{CHANNELS}-channel latent [{CHANNELS},{f},{h},{w}] = {tokens} tokens, {cfg['text_len']} text tokens "
                 f"of width {cfg['text_dim']}; {params / 1e6:.1f}M parameters in {args.dtype}, {attention} attention, "
                 f"exported with torch {torch.__version__}")
    manifest = {
        "name": f"benchmark-dit-{args.scale}",
        "description": "RANDOM WEIGHTS, for measuring speed and memory only: its videos are noise and its reward "
                       "means nothing. A DiT with the architecture of Wan 2.1 T2V 1.3B (" + described + "). "
                       "Decoder: a fixed random 1x1 projection to RGB + sigmoid per frame (not a VAE). "
                       "Written by models/make_benchmark_bundle.py.",
        "format": "TORCHSCRIPT", "model_kind": "FLOW", "prediction": "VELOCITY",
        "flow": {"time_scale": 1000, "shift": 5.0},
        "latent_shape": [CHANNELS, f, h, w], "condition_dim": cfg["text_len"] * cfg["text_dim"],
        "encoder": "encoder.pt", "denoiser": "denoiser.pt", "decoder": "decoder.pt",
        "rewards": [{"name": "colour-match", "file": "rewards/colour_match.pt", "guidance": True,
                     "description": "Random-weight stand-in: minus the squared distance of each frame's mean colour "
                                    "to a colour derived from the prompt. Meaningless as a quality measure."}],
        "defaults": {"sampler": "DPMPP_SDE", "steps": 50, "guidance_scale": 5.0, "order": 2},
        "null_prompt": "",
    }
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "rewards"))
    save_script(denoiser, os.path.join(out, "denoiser.pt"))
    save_script(ByteEncoder(cfg["text_len"], cfg["text_dim"]), os.path.join(out, "encoder.pt"))
    save_script(FrameDecoder(), os.path.join(out, "decoder.pt"))
    save_script(ColourReward(cfg["text_len"], cfg["text_dim"]), os.path.join(out, "rewards", "colour_match.pt"))
    with open(os.path.join(out, "manifest.json"), "w") as f_out:
        json.dump(manifest, f_out, indent=2)
        f_out.write("\n")
    size = sum(os.path.getsize(os.path.join(r, n)) for r, _, names in os.walk(out) for n in names)
    print(f"wrote {out}: {size / 1e6:.1f} MB; {described}")


if __name__ == "__main__":
    main()
