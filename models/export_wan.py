"""Export Wan 2.1 T2V (models/wan_model.py) as a version 2 evosearch bundle (models/BUNDLE.md).

The bundle:
  denoiser.pt      WanModel, TorchScript: forward(x [B,16,F,H,W], t [B], tokens [B,text_len,text_dim],
                   mask [B,text_len]) -> velocity. With --weights, the official checkpoint's weights (strict: every
                   name and shape must match, nothing missing or extra); without, random weights (official init,
                   except the zero-initialised output layer, drawn N(0, 0.02) so the random model is not constant).
  conditions.pt    condition_file: {prompt: {"tokens": [text_len, text_dim] float32, "mask": [text_len] float32}}
                   for every prompt of the text-encoder file and the null prompt. umT5-XXL is not run here: the
                   user supplies its output (--text-embeddings), or --random-text-embeddings makes a deterministic
                   random stand-in for a suite (tests).
  decoder.pt       NOT the Wan VAE: a fixed random 1x1x1 projection of the 16 latent channels to RGB + sigmoid,
                   expanded to the Wan VAE's output shape (latent frame 0 -> 1 frame, every later one -> 4 frames;
                   8x nearest upsampling in space), so the pixels have the real video's shape and mean nothing.
  rewards/prompt_colour.pt  a stand-in reward that reads the prompt TEXT (input PROMPT_TEXT): minus the squared
                   distance of each frame's mean colour to a colour derived from the prompt's bytes. It measures
                   nothing about quality; replace it with a real reward (a VideoReward-style service, BUNDLE.md
                   "Reward services").

Text-encoder file (--text-embeddings): torch.save({prompt: Tensor[len_i, text_dim]}) with each prompt's umT5 output
cut to its real length, which is exactly what the official wan.modules.t5.T5EncoderModel returns per prompt
(`context = text_encoder([prompt], device)[0]`); it must contain the null prompt (--null-prompt; Wan's pipeline uses
its config's sample_neg_prompt as the negative prompt for guidance). Each becomes tokens = the rows then zeros to
text_len, and mask = 1 for the real rows.

Scales:
  --scale tiny  a 2-layer, dim-32 model of the same structure, 9 frames of 64 x 64 (latent [16,3,8,8]), text 8 x 24;
                exports and samples in seconds on a CPU (tests/wan_bundle_test.cc);
  --scale 1.3b  Wan2.1-T2V-1.3B: dim 1536, 30 layers, 12 heads, FFN 8960, text 512 x 4096; 81 frames of 832 x 480
                (latent [16,21,60,104]) unless --frames / --size. Meant for --weights
                Wan2.1-T2V-1.3B/diffusion_pytorch_model.safetensors on a GPU machine (it writes a 5.7 GB denoiser.pt
                in float32; set --dtype bf16 to run it in bfloat16 there). NOT RUN on this project's machines: no GPU,
                no network, no weights.

Usage (torch 1.13, Debian's /usr/bin/python3):
  /usr/bin/python3 models/export_wan.py --scale tiny --random-text-embeddings suite.txt --out /tmp/wan-tiny
  /usr/bin/python3 models/export_wan.py --scale 1.3b --weights Wan2.1-T2V-1.3B/diffusion_pytorch_model.safetensors \\
      --text-embeddings umt5.pt --null-prompt "<negative prompt>" --dtype bf16 --out wan21-1.3b
"""
import argparse
import json
import mmap
import os
import shutil
import struct
import sys
import zlib
from typing import Dict, List

import torch
import torch.nn as nn
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wan_model  # noqa: E402

VAE_STRIDE = (4, 8, 8)  # wan_t2v_1_3B.py vae_stride: 4x in time (causal: 1 + 4(F-1) frames), 8x in space
SCALES = {  # frames, (width, height) of the video; the latent follows from VAE_STRIDE
    "tiny": dict(frames=9, size=(64, 64)),
    "1.3b": dict(frames=81, size=(832, 480)),  # the official t2v 480p size "832*480", frame_num 81
}
SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path: str) -> Dict[str, Tensor]:
    """The tensors of a .safetensors file (8-byte little-endian header size, JSON header, raw little-endian data);
    the safetensors package is not needed."""
    with open(path, "rb") as f:
        header_size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_size))
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    base = 8 + header_size
    out: Dict[str, Tensor] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in SAFETENSORS_DTYPES:
            raise SystemExit(f"{path}: tensor {name} has dtype {entry['dtype']}, expected one of "
                             f"{sorted(SAFETENSORS_DTYPES)}")
        begin, end = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        raw = data[base + begin:base + end]
        t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(entry["shape"])
    return out


def write_safetensors(tensors: Dict[str, Tensor], path: str):
    """The inverse of read_safetensors (used by the tests to write weights in the checkpoint's format)."""
    names = {v: k for k, v in SAFETENSORS_DTYPES.items()}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in blobs:
            f.write(raw)


def read_weights(path: str) -> Dict[str, Tensor]:
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    state = torch.load(path, map_location="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise SystemExit(f"{path}: expected a state dict (name -> tensor) saved by torch.save, or a .safetensors file")
    return state


def load_weights(model: nn.Module, path: str):
    """Loads the checkpoint strictly; any missing, extra or differently shaped tensor stops with its name."""
    state = read_weights(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [f"{k}: {list(state[k].shape)}, expected {list(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    problems = ([f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")] if missing else []) + \
               ([f"unexpected {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else "")] if extra else []) + \
               (["wrong shape " + "; ".join(shapes[:5])] if shapes else [])
    if problems:
        raise SystemExit(f"--weights {path} does not fit this Wan model: " + "; ".join(problems))
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(state[k].to(v.dtype))


class WanVaeShapedDecoder(nn.Module):
    """A stand-in for the Wan VAE decoder with its output shape: [B,16,F,H,W] -> [B,3,1+4(F-1),8H,8W] in [0,1],
    sigmoid of a fixed random 1x1x1 projection, frame 0 once and every later latent frame 4 times, 8x nearest."""

    def __init__(self, channels: int, stride_t: int, stride_s: int):
        super().__init__()
        self.stride_t = stride_t
        self.stride_s = stride_s
        self.proj = nn.Conv3d(channels, 3, kernel_size=1)

    def forward(self, z: Tensor) -> Tensor:
        rgb = torch.sigmoid(self.proj(z))  # [B, 3, F, H, W]
        later = rgb[:, :, 1:].repeat_interleave(self.stride_t, dim=2)
        video = torch.cat([rgb[:, :, :1], later], dim=2)
        return video.repeat_interleave(self.stride_s, dim=3).repeat_interleave(self.stride_s, dim=4)


class PromptColourReward(nn.Module):
    """forward(pixels [B,3,F,H,W], prompts) -> [B]: minus the mean over frames of the squared distance between the
    frame's mean colour and sigmoid(mean of a fixed random table's rows for the prompt's bytes). A stand-in only."""

    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.randn(256, 3))

    def forward(self, pixels: Tensor, prompts: List[str]) -> Tensor:
        target = torch.zeros(len(prompts), 3, device=pixels.device)
        for i in range(len(prompts)):
            text = prompts[i]
            total = torch.zeros(3, device=pixels.device)
            for j in range(len(text)):
                total = total + self.table[ord(text[j]) % 256]
            target[i] = torch.sigmoid(total / max(1, len(text)) ** 0.5)
        colour = pixels.float().mean(dim=[3, 4])  # [B, 3, F]
        return -((colour - target.unsqueeze(2)) ** 2).mean(dim=[1, 2])

    @torch.jit.export
    def features(self, pixels: Tensor) -> Tensor:
        return pixels.float().mean(dim=[3, 4]).flatten(1)


def random_text_embeddings(prompts: List[str], text_len: int, text_dim: int) -> Dict[str, Tensor]:
    """A deterministic stand-in for umT5 output: prompt p gets min(len(p)+1, text_len) rows (a string's bytes plus
    the end token, as a tokenizer would give roughly), drawn from a generator seeded by the prompt's CRC-32."""
    out = {}
    for p in prompts:
        g = torch.Generator().manual_seed(zlib.crc32(p.encode("utf-8")))
        out[p] = torch.randn(min(len(p.encode("utf-8")) + 1, text_len), text_dim, generator=g)
    return out


def condition_parts(embeddings: Dict[str, Tensor], null_prompt: str, text_len: int, text_dim: int):
    if null_prompt not in embeddings:
        raise SystemExit(f"the text embeddings have no entry for the null prompt {null_prompt!r} (--null-prompt)")
    out = {}
    for prompt, e in embeddings.items():
        if not isinstance(e, Tensor) or e.dim() != 2 or e.size(1) != text_dim or not 1 <= e.size(0) <= text_len:
            shape = list(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise SystemExit(f"text embedding of {prompt!r} is {shape}, expected [1..{text_len}, {text_dim}] (the "
                             f"encoder output cut to the prompt's length)")
        tokens = torch.zeros(text_len, text_dim)
        tokens[:e.size(0)] = e.float()
        mask = torch.zeros(text_len)
        mask[:e.size(0)] = 1
        out[prompt] = {"tokens": tokens, "mask": mask}
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", required=True, choices=sorted(SCALES))
    p.add_argument("--out", required=True, help="bundle folder (replaced)")
    p.add_argument("--weights", help="the official checkpoint: .safetensors or a torch.save'd state dict")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--text-embeddings", help="torch.save'd {prompt: Tensor[len, text_dim]} (umT5 output)")
    text.add_argument("--random-text-embeddings", metavar="SUITE",
                      help="a prompt suite (one prompt a line): random stand-in embeddings for its prompts")
    p.add_argument("--null-prompt", default="", help="the prompt whose condition is the unconditional one")
    p.add_argument("--frames", type=int, help="video frames, 1 + 4k (default: the scale's)")
    p.add_argument("--size", help="WIDTH*HEIGHT of the video, multiples of 16 (default: the scale's)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="the manifest's dtype")
    p.add_argument("--shift", type=float, default=5.0, help="flow shift (generate.py's default for t2v: 5.0)")
    p.add_argument("--attention", default="auto", choices=["auto", "sdpa", "blocked"],
                   help="auto: F.scaled_dot_product_attention where this torch has it (>= 2.0: flash or "
                        "memory-efficient kernels on CUDA), else blocked (the [L, L] scores in blocks of "
                        "--attention-block queries); the weights and the answers' layout do not depend on it")
    p.add_argument("--attention-block", type=int, default=1024, help="queries per attention block (blocked)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def latent_shape(args) -> List[int]:
    frames = args.frames or SCALES[args.scale]["frames"]
    width, height = SCALES[args.scale]["size"]
    if args.size:
        width, height = (int(v) for v in args.size.split("*"))
    st, ss = VAE_STRIDE[0], VAE_STRIDE[1]
    if frames < 1 or (frames - 1) % st or width % (2 * ss) or height % (2 * ss):
        raise SystemExit(f"--frames {frames} --size {width}*{height}: expected 1 + 4k frames and sides that are "
                         f"multiples of 16 (VAE stride 8, patch 2)")
    return [16, (frames - 1) // st + 1, height // ss, width // ss]


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    config = wan_model.CONFIGS[args.scale]
    text_len, text_dim = config["text_len"], config["text_dim"]
    latent = latent_shape(args)

    if args.text_embeddings:
        embeddings = torch.load(args.text_embeddings, map_location="cpu")
        if not isinstance(embeddings, dict):
            raise SystemExit(f"--text-embeddings {args.text_embeddings}: expected a dict prompt -> tensor")
    else:
        with open(args.random_text_embeddings, encoding="utf-8") as f:
            prompts = [line.strip() for line in f if line.strip()]
        embeddings = random_text_embeddings(prompts + [args.null_prompt], text_len, text_dim)
    conditions = condition_parts(embeddings, args.null_prompt, text_len, text_dim)

    attention = wan_model.default_attention() if args.attention == "auto" else args.attention
    try:
        model = wan_model.build(args.scale, attention_block=args.attention_block, attention=attention)
    except ValueError as e:  # sdpa asked of a torch without it
        raise SystemExit(f"--attention {args.attention}: {e}")
    if args.weights:
        load_weights(model, args.weights)
        weights = f"weights from {os.path.basename(args.weights)}"
    else:
        with torch.no_grad():
            nn.init.normal_(model.head.head.weight, std=0.02)
        weights = "RANDOM weights (official init, output layer N(0, 0.02)): its videos are noise"
    model.eval()
    params = sum(p.numel() for p in model.parameters())

    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(os.path.join(args.out, "rewards"))
    torch.jit.save(torch.jit.script(model), os.path.join(args.out, "denoiser.pt"))
    torch.jit.save(torch.jit.script(WanVaeShapedDecoder(16, VAE_STRIDE[0], VAE_STRIDE[1]).eval()),
                   os.path.join(args.out, "decoder.pt"))
    torch.jit.save(torch.jit.script(PromptColourReward().eval()), os.path.join(args.out, "rewards", "prompt_colour.pt"))
    torch.save(conditions, os.path.join(args.out, "conditions.pt"))

    c = config
    described = (f"Wan 2.1 T2V transformer ({args.scale}: dim {c['dim']}, {c['num_layers']} layers, {c['num_heads']} "
                 f"heads, FFN {c['ffn_dim']}, text {text_len} x {text_dim}; {params:,} parameters, {attention} attention, "
                 f"exported with torch {torch.__version__}), {weights}")
    manifest = {
        "name": f"wan21-t2v-{args.scale}",
        "description": described + ". Decoder: NOT the Wan VAE, a fixed random projection to RGB with the VAE's "
                       "output shape. Reward: a stand-in reading the prompt text (colour match), meaningless as a "
                       "quality measure. Conditions: " + ("umT5 output from " + os.path.basename(args.text_embeddings)
                                                          if args.text_embeddings else "RANDOM stand-in embeddings") +
                       ". Written by models/export_wan.py.",
        "format": "TORCHSCRIPT", "model_kind": "FLOW", "prediction": "VELOCITY",
        "flow": {"time_scale": 1000, "shift": args.shift},
        "latent_shape": latent,
        "conditions": [{"name": "tokens", "shape": [text_len, text_dim]}, {"name": "mask", "shape": [text_len]}],
        "condition_file": "conditions.pt",
        "denoiser": "denoiser.pt", "decoder": "decoder.pt",
        "rewards": [{"name": "prompt-colour", "file": "rewards/prompt_colour.pt", "guidance": True,
                     "input": "PROMPT_TEXT",
                     "description": "Stand-in: minus the squared distance of each frame's mean colour to a colour "
                                    "derived from the prompt's bytes."}],
        "defaults": {"sampler": "DPMPP_SDE", "steps": 50, "guidance_scale": 5.0, "order": 2},
        "null_prompt": args.null_prompt,
        "dtype": args.dtype,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}: {described}; latent {latent}, {len(conditions)} prompts in conditions.pt")


if __name__ == "__main__":
    main()
