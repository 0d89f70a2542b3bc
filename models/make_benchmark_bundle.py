"""Write a RANDOM-WEIGHT benchmark bundle of Wan 2.1 T2V 1.3B's transformer, to measure speed and memory.

The weights are random: the samples are noise and the reward means nothing. The bundle exists so
that the benchmarks (bench/throughput.cc, bench/memory.cc, bench/official_loop.py) run a denoiser
with the architecture, width, depth, head count, patching and token count of a real video model.

The denoiser is models/wan_model.py's WanModel (the official checkpoint's layout; at --scale full
exactly the 1.3B configuration) with Wan's real conditioning: a version 2 bundle whose condition is
the text tokens [text_len, text_dim] and their mask [text_len] (models/BUNDLE.md), cross-attended by
every block. The encoder, decoder and reward are cheap stand-ins: a random row per character for
umT5, a 1x1 projection to RGB at latent resolution for the VAE, and export_wan.py's reward that
reads the prompt text.

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
  /usr/bin/python3 models/make_benchmark_bundle.py --scale tiny      # 0.9 MB, for CPU runs
  /usr/bin/python3 models/make_benchmark_bundle.py --scale 0.25 --latent 3,26,16 --out /tmp/b
  /usr/bin/python3 models/make_benchmark_bundle.py --scale tiny --text 512,4096   # Wan-size conditions

With torch >= 2.0 attention is F.scaled_dot_product_attention (flash / memory-efficient kernels on
CUDA); torch 1.13 has no such op, so there it is computed in blocks of queries to bound memory
(wan_model.py's two attention paths; --attention picks one).
An AOTInductor (.pt2) export cannot be made with torch 1.13: AOTInductor arrived in torch 2.2, .pt2
packages (torch._inductor.aoti_compile_and_package) in 2.6. A .pt2 loader would go behind
worker/module_loader.h.
"""
import argparse
import json
import os
import shutil
import sys
from typing import Dict, List

import torch
import torch.nn as nn
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_wan  # noqa: E402  (the stand-in decoder and prompt-reading reward)
import wan_model  # noqa: E402  (the architecture: Wan 2.1's WanModel)

CHANNELS = 16  # Wan's VAE latent channels (WanModel in_dim / out_dim)
ATTENTION_BLOCK = 2048  # queries per block of the blocked attention

# WanModel arguments and latent (F, H, W). Full: Wan 2.1 T2V 1.3B at the EvoSearch Wan setting (docstring).
FULL = wan_model.CONFIGS["1.3b"]
FULL_LATENT = (9, 104, 60)
# The same structure, small enough to run the whole Wan schedule on two CPU cores in seconds.
TINY = dict(FULL, dim=64, num_layers=2, num_heads=4, ffn_dim=256, freq_dim=32, text_dim=64, text_len=16)
TINY_LATENT = (3, 16, 16)


def scaled_config(scale: float):
    """FULL shrunk by `scale` in width (heads, head dim 128 kept), depth, text and latent size; -> (config, latent)."""
    even = lambda v: max(2, 2 * round(v / 2))  # latent H and W must split into 2x2 patches
    heads = max(1, round(FULL["num_heads"] * scale))
    config = dict(FULL, dim=heads * 128, num_layers=max(1, round(FULL["num_layers"] * scale)), num_heads=heads,
                  ffn_dim=max(64, 64 * round(FULL["ffn_dim"] * scale / 64)),
                  text_dim=max(64, 64 * round(FULL["text_dim"] * scale / 64)),
                  text_len=max(8, round(FULL["text_len"] * scale)))
    latent = (max(1, round(FULL_LATENT[0] * scale)), even(FULL_LATENT[1] * scale), even(FULL_LATENT[2] * scale))
    return config, latent


class CharacterEncoder(nn.Module):
    """A stand-in for umT5 with Wan's condition layout: forward(prompts) -> {"tokens": [B, text_len, text_dim],
    "mask": [B, text_len]}. Token j of a prompt is row (character j mod 256) of a fixed random table, then one
    end-of-text row (row 256), then zero rows to text_len, as the official pipeline pads its T5 output; the mask is 1
    on the prompt's rows (its length). "" is the end row alone."""

    def __init__(self, text_len: int, text_dim: int):
        super().__init__()
        self.text_len = text_len
        self.text_dim = text_dim
        self.register_buffer("table", torch.randn(257, text_dim))

    def forward(self, prompts: List[str]) -> Dict[str, Tensor]:
        tokens = torch.zeros(len(prompts), self.text_len, self.text_dim, device=self.table.device)
        mask = torch.zeros(len(prompts), self.text_len, device=self.table.device)
        for i in range(len(prompts)):
            text = prompts[i]
            n = min(len(text), self.text_len - 1)
            for j in range(n):
                tokens[i, j] = self.table[ord(text[j]) % 256]
            tokens[i, n] = self.table[256]
            mask[i, :n + 1] = 1.0
        return {"tokens": tokens, "mask": mask}


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


def config_for(args):
    """(WanModel arguments, latent (F, H, W)) for the command line."""
    if args.scale == "full":
        cfg, latent = dict(FULL), FULL_LATENT
    elif args.scale == "tiny":
        cfg, latent = dict(TINY), TINY_LATENT
    else:
        scale = float(args.scale)
        if not 0 < scale <= 1:
            raise SystemExit(f"--scale {args.scale}: expected full, tiny or a number in (0, 1]")
        cfg, latent = scaled_config(scale)
    if args.latent:
        f, h, w = (int(v) for v in args.latent.split(","))
        if f < 1 or h < 2 or w < 2 or h % 2 or w % 2:
            raise SystemExit(f"--latent {args.latent}: expected F,H,W with F >= 1 and H, W even (2x2 patches)")
        latent = (f, h, w)
    if args.text:
        tokens, width = (int(v) for v in args.text.split(","))
        if tokens < 1 or width < 1:
            raise SystemExit(f"--text {args.text}: expected TOKENS,WIDTH, both positive")
        cfg["text_len"], cfg["text_dim"] = tokens, width
    return cfg, tuple(latent)


def build_denoiser(cfg: dict, attention: str, dtype: torch.dtype) -> wan_model.WanModel:
    """WanModel with random weights: the official init, except the zero-initialised output layer, drawn N(0, 0.02)
    so the velocity is not constant; the weights stored in `dtype` (the module computes in its weights' dtype)."""
    model = wan_model.WanModel(**cfg, attention_block=ATTENTION_BLOCK, attention=attention)
    with torch.no_grad():
        nn.init.normal_(model.head.head.weight, std=0.02)
    return model.to(dtype).eval()


def save_script(module: nn.Module, path: str):
    module.eval()
    torch.jit.save(torch.jit.script(module), path)


def main():
    args = parse_args()
    cfg, latent = config_for(args)
    attention = wan_model.default_attention() if args.attention == "auto" else args.attention
    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, f"benchmark-dit-{args.scale}")
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)

    try:
        denoiser = build_denoiser(cfg, attention, dtype)
    except ValueError as e:  # sdpa asked of a torch without it
        raise SystemExit(f"--attention {args.attention}: {e}")
    params = sum(p.numel() for p in denoiser.parameters())
    f, h, w = latent
    tokens = f * (h // 2) * (w // 2)
    text_len, text_dim = cfg["text_len"], cfg["text_dim"]
    described = (f"dim {cfg['dim']}, {cfg['num_layers']} layers, {cfg['num_heads']} heads, FFN {cfg['ffn_dim']}, "
                 f"patch 1x2x2, {CHANNELS}-channel latent [{CHANNELS},{f},{h},{w}] = {tokens} tokens, {text_len} text "
                 f"tokens of width {text_dim}; {params / 1e6:.1f}M parameters in {args.dtype}, {attention} attention, "
                 f"exported with torch {torch.__version__}")
    manifest = {
        "name": f"benchmark-dit-{args.scale}",
        "description": "RANDOM WEIGHTS, for measuring speed and memory only: its videos are noise and its reward "
                       "means nothing. Wan 2.1's T2V transformer (models/wan_model.py; " + described + "). "
                       "Encoder: a stand-in for umT5 (a fixed random row per character, zero-padded, with a mask). "
                       "Decoder: a fixed random 1x1 projection to RGB + sigmoid per frame, at latent resolution "
                       "(not a VAE). Written by models/make_benchmark_bundle.py.",
        "format": "TORCHSCRIPT", "model_kind": "FLOW", "prediction": "VELOCITY",
        "flow": {"time_scale": 1000, "shift": 5.0},
        "latent_shape": [CHANNELS, f, h, w],
        "conditions": [{"name": "tokens", "shape": [text_len, text_dim]}, {"name": "mask", "shape": [text_len]}],
        "encoder": "encoder.pt", "denoiser": "denoiser.pt", "decoder": "decoder.pt",
        "rewards": [{"name": "prompt-colour", "file": "rewards/prompt_colour.pt", "guidance": True,
                     "input": "PROMPT_TEXT",
                     "description": "Random-weight stand-in: minus the squared distance of each frame's mean colour "
                                    "to a colour derived from the prompt's text. Meaningless as a quality measure."}],
        "defaults": {"sampler": "DPMPP_SDE", "steps": 50, "guidance_scale": 5.0, "order": 2},
        "null_prompt": "",
    }
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "rewards"))
    save_script(denoiser, os.path.join(out, "denoiser.pt"))
    save_script(CharacterEncoder(text_len, text_dim), os.path.join(out, "encoder.pt"))
    # export_wan's VAE-shaped stand-in at stride 1: latent resolution, so decoding costs next to nothing.
    save_script(export_wan.WanVaeShapedDecoder(CHANNELS, 1, 1), os.path.join(out, "decoder.pt"))
    save_script(export_wan.PromptColourReward(), os.path.join(out, "rewards", "prompt_colour.pt"))
    with open(os.path.join(out, "manifest.json"), "w") as f_out:
        json.dump(manifest, f_out, indent=2)
        f_out.write("\n")
    size = sum(os.path.getsize(os.path.join(r, n)) for r, _, names in os.walk(out) for n in names)
    print(f"wrote {out}: {size / 1e6:.1f} MB; {described}")


if __name__ == "__main__":
    main()
