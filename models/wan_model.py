"""Wan 2.1's text-to-video transformer (WanModel, model_type 't2v'), written for TorchScript and torch 1.13.

The architecture, the parameter names and their shapes follow the official code (github.com/Wan-Video/Wan2.1,
wan/modules/model.py at 9737cba), so the official checkpoint's state dict (`diffusion_pytorch_model.safetensors`
of Wan2.1-T2V-1.3B: 825 tensors, 1,418,996,800 numbers) loads into WanModel(**CONFIGS["1.3b"]) with
load_state_dict(strict=True); tests/wan_model_test.py checks every name and shape against
models/wan21_1.3b_params.txt, a list made from the official class itself (models/wan_official_params.py).

What is the same as the official model:
  - patch embedding Conv3d(16 -> dim, kernel = stride = (1, 2, 2)); text embedding Linear(4096, dim) - GELU(tanh)
    - Linear(dim, dim); time embedding: float64 sinusoid of t (cos half first, 10000^(-i/half)) -> Linear(freq_dim,
    dim) - SiLU - Linear(dim, dim); time projection SiLU - Linear(dim, 6 dim) -> 6 modulation vectors;
  - each block: LayerNorm (no affine, eps 1e-6, in float32) modulated by shift e0 / scale e1, self-attention with
    q, k RMS-normed (over the whole dim, then split in heads) and 3-D RoPE (float64; the head_dim/2 rotation pairs
    split c - 2(c//3), c//3, c//3 over frames, rows and columns, frequencies 10000^(-2i/d_axis) with d_axis
    = d - 4(d//6), 2(d//6), 2(d//6)), gated by e2; cross-attention (WanT2VCrossAttention: q from the video tokens
    after norm3, an affine LayerNorm, k and v from the text tokens, q and k RMS-normed, no RoPE); FFN Linear(dim,
    ffn) - GELU(tanh) - Linear(ffn, dim) on the modulated norm2 (shift e3, scale e4), gated by e5; modulation
    parameters [1, 6, dim] added to the projected time embedding;
  - the head: LayerNorm modulated by (head.modulation [1, 2, dim] + e), Linear(dim, 16 * 1*2*2); unpatchify
    'fhwpqrc -> cfphqwr';
  - the text: the official T5 wrapper returns each prompt's embeddings cut to its real length (the mask's count)
    and WanModel pads them back to text_len with ZEROS, embeds all text_len rows and cross-attends to all of them
    (its context_lens is None): the padded rows are not masked out of the attention, they are zero inputs to the
    text embedding. forward() does the same with the `mask` part: rows at or past the prompt's length (the number
    of nonzero mask entries) are set to zero before the text embedding, and attention covers all text_len rows.
  - self-attention: the official model pads the video tokens to `seq_len` and masks the padding out of the keys;
    in text-to-video sampling on one GPU seq_len is exactly the token count (text2video.py: ceil(H*W/4 * F / sp)
    * sp with sp = 1), so there is no padding and no mask; here every sample of a batch has the same shape, and
    attention covers all F*H*W/4 tokens.

What differs (none of it changes the function in float32):
  - attention is softmax(q k^T / sqrt(d)) v written out (flash-attn is not available; torch 1.13 has no fused
    attention), in blocks of `attention_block` queries so the [L, L] score matrix of a long video never exists
    whole; the softmax is taken in float32;
  - RoPE is applied as real cos/sin rotations in float64 instead of complex multiplication in float64, and its
    table is computed for the call's grid (the official table `freqs` is an attribute, not in the state dict);
  - the official pipeline keeps the weights in float32 and runs under torch.cuda.amp.autocast(bfloat16), with the
    time embedding, modulations and norms in float32. TorchScript here has no autocast; instead every Linear and
    the patch embedding run in the weights' dtype (the bundle's `dtype`: fp32 by default, or bf16 / fp16 on CUDA,
    where evosearch converts the weights), while the modulation arithmetic, the norms, the residual stream and
    the attention softmax stay float32, as under autocast. In bf16 the results are therefore close to, not
    bit-identical with, the official pipeline's.
  - the batch is a tensor [B, 16, F, H, W] instead of a list of [16, F, H, W], and t is [B].

forward(x [B, 16, F, H, W], t [B] (sigma * 1000), tokens [B, text_len, text_dim], mask [B, text_len]) -> the
velocity (noise - x0), float32, like x: the v2 bundle signature (models/BUNDLE.md).
"""
import math
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

# wan/configs/wan_t2v_1_3B.py with shared_config.py's text_len 512 and WanModel's in/out_dim 16, text_dim 4096.
CONFIGS: Dict[str, dict] = {
    "1.3b": dict(patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=1536, ffn_dim=8960, freq_dim=256, text_dim=4096,
                 out_dim=16, num_heads=12, num_layers=30, qk_norm=True, cross_attn_norm=True, eps=1e-6),
    # Same structure, small enough to build, export and sample in seconds on a CPU: head_dim 16 (RoPE pairs 4/2/2).
    "tiny": dict(patch_size=(1, 2, 2), text_len=8, in_dim=16, dim=32, ffn_dim=64, freq_dim=32, text_dim=24,
                 out_dim=16, num_heads=2, num_layers=2, qk_norm=True, cross_attn_norm=True, eps=1e-6),
}


def rope_split(head_dim: int) -> List[int]:
    """Rotation pairs per axis (frames, rows, columns) of one head: c - 2(c//3), c//3, c//3 with c = head_dim/2."""
    c = head_dim // 2
    return [c - 2 * (c // 3), c // 3, c // 3]


class WanRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5, device=None):
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, device=device))

    def forward(self, x: Tensor) -> Tensor:
        y = x.float()
        return (y * torch.rsqrt(y.pow(2).mean(dim=-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class WanLayerNorm(nn.Module):
    """LayerNorm computed in float32, with weight and bias only when elementwise_affine (official WanLayerNorm)."""

    def __init__(self, dim: int, eps: float = 1e-6, elementwise_affine: bool = False, device=None):
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.affine = elementwise_affine
        self.weight = nn.Parameter(torch.ones(dim, device=device)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(dim, device=device)) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        b = self.bias
        if w is not None and b is not None:
            y = F.layer_norm(x.float(), [self.dim], w.float(), b.float(), self.eps)
        else:
            y = F.layer_norm(x.float(), [self.dim], None, None, self.eps)
        return y.type_as(x)


def attention(q: Tensor, k: Tensor, v: Tensor, block: int) -> Tensor:
    """softmax(q k^T / sqrt(d)) v over [B, L, heads, d] tensors, in blocks of `block` queries; -> [B, Lq, heads, d]."""
    scale = 1.0 / math.sqrt(q.size(-1))
    qh = q.transpose(1, 2)
    kt = k.transpose(1, 2).transpose(-1, -2)
    vh = v.transpose(1, 2)
    out: List[Tensor] = []
    for start in range(0, qh.size(2), block):
        scores = torch.matmul(qh[:, :, start:start + block], kt).float() * scale
        out.append(torch.matmul(torch.softmax(scores, dim=-1).to(vh.dtype), vh))
    return torch.cat(out, dim=2).transpose(1, 2)


def rope_apply(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate consecutive pairs of x [B, L, heads, d] by the angles whose cos/sin are [L, 1, d/2] (float64)."""
    b, n, h = x.size(0), x.size(1), x.size(2)
    pairs = x.double().reshape(b, n, h, -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(3).float()


class WanSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6, attention_block: int = 1024,
                 device=None):
        super().__init__()
        assert dim % num_heads == 0
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attention_block = attention_block
        self.q = nn.Linear(dim, dim, device=device)
        self.k = nn.Linear(dim, dim, device=device)
        self.v = nn.Linear(dim, dim, device=device)
        self.o = nn.Linear(dim, dim, device=device)
        self.norm_q = WanRMSNorm(dim, eps=eps, device=device) if qk_norm else nn.Identity()
        self.norm_k = WanRMSNorm(dim, eps=eps, device=device) if qk_norm else nn.Identity()

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        b, s, n, d = x.size(0), x.size(1), self.num_heads, self.head_dim
        x = x.to(self.q.weight.dtype)
        q = self.norm_q(self.q(x)).view(b, s, n, d)
        k = self.norm_k(self.k(x)).view(b, s, n, d)
        v = self.v(x).view(b, s, n, d)
        dtype = v.dtype
        y = attention(rope_apply(q, cos, sin).to(dtype), rope_apply(k, cos, sin).to(dtype), v, self.attention_block)
        return self.o(y.flatten(2))


class WanT2VCrossAttention(WanSelfAttention):
    def forward(self, x: Tensor, context: Tensor) -> Tensor:  # type: ignore[override]
        b, n, d = x.size(0), self.num_heads, self.head_dim
        x = x.to(self.q.weight.dtype)
        context = context.to(self.q.weight.dtype)
        q = self.norm_q(self.q(x)).view(b, -1, n, d)
        k = self.norm_k(self.k(context)).view(b, -1, n, d)
        v = self.v(context).view(b, -1, n, d)
        return self.o(attention(q, k, v, self.attention_block).flatten(2))


class WanAttentionBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, num_heads: int, qk_norm: bool = True, cross_attn_norm: bool = False,
                 eps: float = 1e-6, attention_block: int = 1024, device=None):
        super().__init__()
        self.norm1 = WanLayerNorm(dim, eps, device=device)
        self.self_attn = WanSelfAttention(dim, num_heads, qk_norm, eps, attention_block, device)
        self.norm3 = (WanLayerNorm(dim, eps, elementwise_affine=True, device=device) if cross_attn_norm
                      else nn.Identity())
        self.cross_attn = WanT2VCrossAttention(dim, num_heads, qk_norm, eps, attention_block, device)
        self.norm2 = WanLayerNorm(dim, eps, device=device)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim, device=device), nn.GELU(approximate="tanh"),
                                 nn.Linear(ffn_dim, dim, device=device))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim, device=device) / dim ** 0.5)

    def forward(self, x: Tensor, e: Tensor, cos: Tensor, sin: Tensor, context: Tensor) -> Tensor:
        """x [B, L, dim] float32 (the residual stream), e [B, 6, dim] float32, context [B, text_len, dim]."""
        m = (self.modulation.float() + e).chunk(6, dim=1)
        y = self.self_attn(self.norm1(x).float() * (1 + m[1]) + m[0], cos, sin)
        x = x + y.float() * m[2]
        x = x + self.cross_attn(self.norm3(x), context).float()
        ffn_in = (self.norm2(x).float() * (1 + m[4]) + m[3]).to(self.modulation.dtype)
        return x + self.ffn(ffn_in).float() * m[5]


class Head(nn.Module):
    def __init__(self, dim: int, out_dim: int, patch_size: Tuple[int, int, int], eps: float = 1e-6, device=None):
        super().__init__()
        self.norm = WanLayerNorm(dim, eps, device=device)
        self.head = nn.Linear(dim, out_dim * patch_size[0] * patch_size[1] * patch_size[2], device=device)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim, device=device) / dim ** 0.5)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        m = (self.modulation.float() + e.unsqueeze(1)).chunk(2, dim=1)
        y = self.norm(x).float() * (1 + m[1]) + m[0]
        return self.head(y.to(self.head.weight.dtype)).float()


class WanModel(nn.Module):
    """Wan 2.1 t2v transformer; state dict = the official checkpoint's (see the module docstring)."""

    def __init__(self, patch_size=(1, 2, 2), text_len: int = 512, in_dim: int = 16, dim: int = 2048,
                 ffn_dim: int = 8192, freq_dim: int = 256, text_dim: int = 4096, out_dim: int = 16,
                 num_heads: int = 16, num_layers: int = 32, qk_norm: bool = True, cross_attn_norm: bool = True,
                 eps: float = 1e-6, attention_block: int = 1024, device=None):
        super().__init__()
        assert dim % num_heads == 0 and (dim // num_heads) % 2 == 0 and freq_dim % 2 == 0
        self.patch = [int(p) for p in patch_size]
        self.text_len = text_len
        self.text_dim = text_dim
        self.dim = dim
        self.freq_dim = freq_dim
        self.out_dim = out_dim
        self.head_dim = dim // num_heads
        self.patch_embedding = nn.Conv3d(in_dim, dim, kernel_size=tuple(self.patch), stride=tuple(self.patch),
                                         device=device)
        self.text_embedding = nn.Sequential(nn.Linear(text_dim, dim, device=device), nn.GELU(approximate="tanh"),
                                            nn.Linear(dim, dim, device=device))
        self.time_embedding = nn.Sequential(nn.Linear(freq_dim, dim, device=device), nn.SiLU(),
                                            nn.Linear(dim, dim, device=device))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6, device=device))
        self.blocks = nn.ModuleList([
            WanAttentionBlock(dim, ffn_dim, num_heads, qk_norm, cross_attn_norm, eps, attention_block, device)
            for _ in range(num_layers)])
        self.head = Head(dim, out_dim, (self.patch[0], self.patch[1], self.patch[2]), eps, device)
        self.init_weights()

    def init_weights(self):
        """The official init_weights: Xavier-uniform Linears with zero biases, N(0, 0.02) text and time embeddings,
        Xavier patch embedding, a zero output layer (so an untrained model predicts zero velocity)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.patch_embedding.weight.flatten(1))
        for m in list(self.text_embedding.modules()) + list(self.time_embedding.modules()):
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=.02)
        nn.init.zeros_(self.head.head.weight)

    def time_sinusoid(self, t: Tensor) -> Tensor:
        """sinusoidal_embedding_1d(freq_dim, t) in float64 -> float32 [B, freq_dim]."""
        half = self.freq_dim // 2
        position = t.double()
        freqs = torch.pow(10000.0, -torch.arange(half, device=t.device, dtype=torch.float64) / half)
        sinusoid = torch.outer(position, freqs)
        return torch.cat([torch.cos(sinusoid), torch.sin(sinusoid)], dim=1).float()

    def rope_tables(self, f: int, h: int, w: int, device: torch.device) -> Tuple[Tensor, Tensor]:
        """cos, sin [f*h*w, 1, head_dim/2] float64 for the (f, h, w) token grid."""
        d = self.head_dim
        axis_dims = [d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)]
        sizes = [f, h, w]
        angles: List[Tensor] = []
        for axis in range(3):
            inv = 1.0 / torch.pow(10000.0, torch.arange(0, axis_dims[axis], 2, device=device,
                                                        dtype=torch.float64) / axis_dims[axis])
            a = torch.outer(torch.arange(sizes[axis], device=device, dtype=torch.float64), inv)
            shape = [1, 1, 1, a.size(1)]
            shape[axis] = sizes[axis]
            angles.append(a.view(shape).expand(f, h, w, a.size(1)))
        table = torch.cat(angles, dim=-1).reshape(f * h * w, 1, -1)
        return torch.cos(table), torch.sin(table)

    def forward(self, x: Tensor, t: Tensor, tokens: Tensor, mask: Tensor) -> Tensor:
        dtype = self.patch_embedding.weight.dtype
        b = x.size(0)
        grid = self.patch_embedding(x.to(dtype))  # [B, dim, F, H/2, W/2]
        f, h, w = grid.size(2), grid.size(3), grid.size(4)
        tokens_x = grid.flatten(2).transpose(1, 2).float()  # the residual stream, float32
        e = self.time_embedding(self.time_sinusoid(t.to(x.device)).to(dtype)).float()  # [B, dim]
        e0 = self.time_projection(e.to(dtype)).float().view(b, 6, self.dim)
        # The official model sees each prompt's first `length` rows and zeros after (see the docstring).
        length = (mask.to(x.device) != 0).sum(dim=1, keepdim=True)  # [B, 1]
        keep = torch.arange(self.text_len, device=x.device).unsqueeze(0) < length  # [B, text_len]
        text = tokens.to(device=x.device, dtype=dtype) * keep.unsqueeze(2).to(dtype)
        context = self.text_embedding(text)
        cos, sin = self.rope_tables(f, h, w, x.device)
        for block in self.blocks:
            tokens_x = block(tokens_x, e0, cos, sin, context)
        out = self.head(tokens_x, e)  # [B, L, out_dim * prod(patch)]
        p = self.patch
        out = out.view(b, f, h, w, p[0], p[1], p[2], self.out_dim).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return out.reshape(b, self.out_dim, f * p[0], h * p[1], w * p[2]).float()


def build(config: str, attention_block: int = 1024, device=None) -> WanModel:
    return WanModel(**CONFIGS[config], attention_block=attention_block, device=device)
