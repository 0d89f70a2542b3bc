"""Shared code for the evosearch bundled Fashion-MNIST models.

Data loading, prompt vocabulary / TorchScript prompt encoder, attribute
statistics, and the network definitions used by the train_*.py scripts and
export.py.  Every nn.Module here is TorchScript-compatible (torch 1.13+).
"""
import gzip
import math
import os
import struct
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.environ.get("EVO_CKPT", os.path.join(HERE, "checkpoints"))
COND_DIM = 16
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# A canonical prompt word per class (used by evaluate.py).
CLASS_PROMPT = ["t-shirt", "trousers", "pullover", "dress", "coat",
                "sandal", "shirt", "sneaker", "bag", "ankle boot"]

# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------

def data_dir() -> str:
    for d in [os.environ.get("FASHION_DIR", ""), "/usr/share/datasets/fashion-mnist",
              os.path.join(HERE, "data")]:
        # A folder with only the test split will do for evaluation (cluster/gpu-quality.sh carries that).
        if d and any(os.path.exists(os.path.join(d, f"{p}-images-idx3-ubyte.gz")) for p in ("train", "t10k")):
            return d
    raise FileNotFoundError("Fashion-MNIST idx files not found (set FASHION_DIR)")


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(split: str = "train"):
    """Returns (images float32 [N,1,28,28] in [0,1], labels int64 [N])."""
    pre = "train" if split == "train" else "t10k"
    d = data_dir()
    x = _read_idx(os.path.join(d, f"{pre}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = _read_idx(os.path.join(d, f"{pre}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def class_cond(labels: Tensor, p_null: float = 0.0, gen: torch.Generator = None) -> Tensor:
    """[B,16] condition with class one-hot (or null flag with prob p_null), attributes 0."""
    B = labels.shape[0]
    c = torch.zeros(B, COND_DIM, device=labels.device)
    c[torch.arange(B, device=labels.device), labels] = 1.0
    if p_null > 0:
        drop = torch.rand(B, device=labels.device) < p_null
        c[drop, :11] = 0.0
        c[drop, 10] = 1.0
    return c


def pick_device() -> torch.device:
    if os.environ.get("EVO_DEVICE"):
        return torch.device(os.environ["EVO_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup_threads():
    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("EVO_THREADS", "2")))


def save_ckpt(name: str, module: nn.Module, extra: Dict[str, float] = None):
    """Checkpoints are plain numpy archives so they load in any torch version."""
    os.makedirs(CKPT, exist_ok=True)
    arrs = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    if extra:
        for k, v in extra.items():
            arrs["__extra__" + k] = np.asarray(v)
    np.savez(os.path.join(CKPT, name + ".npz"), **arrs)


def load_ckpt(name: str, module: nn.Module) -> Dict[str, float]:
    z = np.load(os.path.join(CKPT, name + ".npz"))
    sd, extra = {}, {}
    for k in z.files:
        if k.startswith("__extra__"):
            extra[k[len("__extra__"):]] = z[k]
        else:
            sd[k] = torch.from_numpy(z[k])
    module.load_state_dict(sd)
    return extra


def random_shift(x: Tensor, max_shift: int = 2) -> Tensor:
    """Random integer translation (zero padded), per batch element."""
    B = x.shape[0]
    p = max_shift
    xp = F.pad(x, (p, p, p, p))
    dx = torch.randint(0, 2 * p + 1, (B,), device=x.device)
    dy = torch.randint(0, 2 * p + 1, (B,), device=x.device)
    ar = torch.arange(28, device=x.device)
    rows = (dy[:, None] + ar[None, :])  # [B,28]
    cols = (dx[:, None] + ar[None, :])
    bi = torch.arange(B, device=x.device)[:, None, None]
    return xp[bi, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module):
        sd = model.state_dict()
        keys = [k for k in self.shadow if self.shadow[k].dtype.is_floating_point]
        sh = [self.shadow[k] for k in keys]
        torch._foreach_mul_(sh, self.decay)
        torch._foreach_add_(sh, [sd[k].detach() for k in keys], alpha=1 - self.decay)

    def copy_to(self, model: nn.Module):
        model.load_state_dict(self.shadow)


# ----------------------------------------------------------------------------
# prompt vocabulary and encoder
# ----------------------------------------------------------------------------

CLASS_WORDS: Dict[str, int] = {
    "t-shirt": 0, "tshirt": 0, "top": 0, "tee": 0, "teeshirt": 0, "tank": 0,
    "trousers": 1, "trouser": 1, "pants": 1, "jeans": 1, "slacks": 1,
    "pullover": 2, "sweater": 2, "jumper": 2, "sweatshirt": 2, "hoodie": 2,
    "dress": 3, "dresses": 3, "gown": 3,
    "coat": 4, "jacket": 4, "overcoat": 4, "parka": 4,
    "sandal": 5, "sandals": 5,
    "shirt": 6, "blouse": 6,
    "sneaker": 7, "sneakers": 7, "trainer": 7, "trainers": 7, "shoe": 7, "shoes": 7,
    "bag": 8, "handbag": 8, "purse": 8, "tote": 8, "backpack": 8,
    "boot": 9, "boots": 9, "ankle-boot": 9,
}
BRIGHT_WORDS: Dict[str, float] = {
    "dark": -1.0, "black": -1.0, "darker": -1.0, "dim": -1.0, "shadowy": -1.0,
    "bright": 1.0, "light": 1.0, "white": 1.0, "pale": 1.0, "brighter": 1.0,
    "lighter": 1.0, "brilliant": 1.0,
}
SIZE_WORDS: Dict[str, float] = {
    "small": -1.0, "tiny": -1.0, "narrow": -1.0, "little": -1.0, "slim": -1.0,
    "thin": -1.0, "mini": -1.0, "smaller": -1.0,
    "large": 1.0, "big": 1.0, "wide": 1.0, "huge": 1.0, "broad": 1.0,
    "bulky": 1.0, "oversized": 1.0, "larger": 1.0, "bigger": 1.0,
}
TEXTURE_WORDS: Dict[str, float] = {
    "plain": -1.0, "smooth": -1.0, "solid": -1.0, "simple": -1.0, "uniform": -1.0,
    "patterned": 1.0, "striped": 1.0, "textured": 1.0, "pattern": 1.0,
    "stripes": 1.0, "stripy": 1.0, "checked": 1.0, "checkered": 1.0,
    "plaid": 1.0, "printed": 1.0, "detailed": 1.0, "busy": 1.0,
}


class PromptEncoder(nn.Module):
    """forward(prompts: List[str]) -> [B,16] condition.

    Layout: [0..9] class one-hot, [10] null flag (no class word found),
    [11] brightness (-1 dark / +1 bright), [12] size (-1 small / +1 large),
    [13] texture (-1 plain / +1 patterned), [14],[15] reserved (0).
    Lower-cases, splits on anything that is not a letter, digit or '-'.
    The first class word wins; for attributes the last mentioned word wins.
    """

    def __init__(self):
        super().__init__()
        self.class_words: Dict[str, int] = dict(CLASS_WORDS)
        self.bright_words: Dict[str, float] = dict(BRIGHT_WORDS)
        self.size_words: Dict[str, float] = dict(SIZE_WORDS)
        self.texture_words: Dict[str, float] = dict(TEXTURE_WORDS)
        # only used to know which device the output should live on
        self.register_buffer("anchor", torch.zeros(1))

    def tokenize(self, s: str) -> List[str]:
        s = s.lower()
        chars: List[str] = []
        for c in s:
            if c.isalnum() or c == "-":
                chars.append(c)
            else:
                chars.append(" ")
        out: List[str] = []
        for w in "".join(chars).split():
            w = w.strip("-")
            if len(w) > 0:
                out.append(w)
        return out

    def normalize(self, w: str) -> str:
        """Return w, or a singular form of w that is in some vocabulary."""
        if self.known(w):
            return w
        if len(w) > 3 and w.endswith("s") and self.known(w[:-1]):
            return w[:-1]
        if len(w) > 4 and w.endswith("es") and self.known(w[:-2]):
            return w[:-2]
        return w

    def known(self, w: str) -> bool:
        return (w in self.class_words) or (w in self.bright_words) or \
            (w in self.size_words) or (w in self.texture_words)

    def encode_one(self, prompt: str) -> List[float]:
        toks = self.tokenize(prompt)
        cls = -1
        bright = 0.0
        size = 0.0
        texture = 0.0
        n = len(toks)
        for j in range(n):
            w = self.normalize(toks[j])
            if cls < 0:
                if (w == "t" or w == "tee") and j + 1 < n and self.normalize(toks[j + 1]) == "shirt":
                    cls = 0
                elif w in self.class_words:
                    cls = self.class_words[w]
            if w in self.bright_words:
                bright = self.bright_words[w]
            if w in self.size_words:
                size = self.size_words[w]
            if w in self.texture_words:
                texture = self.texture_words[w]
        row: List[float] = [0.0] * 16
        if cls >= 0:
            row[cls] = 1.0
        else:
            row[10] = 1.0
        row[11] = bright
        row[12] = size
        row[13] = texture
        return row

    def forward(self, prompts: List[str]) -> Tensor:
        rows: List[List[float]] = []
        for p in prompts:
            rows.append(self.encode_one(p))
        if len(rows) == 0:
            return torch.zeros(0, 16, dtype=torch.float32, device=self.anchor.device)
        return torch.tensor(rows, dtype=torch.float32, device=self.anchor.device)


# ----------------------------------------------------------------------------
# attribute statistics
# ----------------------------------------------------------------------------

def guidance_stats(x: Tensor) -> Tensor:
    """Smooth statistics for the guidance reward. x [B,1,28,28] in [0,1] -> [B,3]
    (brightness, size, texture)."""
    m = torch.sigmoid((x - 0.1) * 40.0)              # soft foreground mask
    msum = m.sum(dim=(1, 2, 3)) + 1.0
    bright = (x * m).sum(dim=(1, 2, 3)) / msum        # mean foreground intensity
    size = torch.sigmoid((x - 0.2) * 40.0).mean(dim=(1, 2, 3))  # fraction of pixels > 0.2
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
                     dtype=x.dtype, device=x.device).view(1, 1, 3, 3)
    lap = F.conv2d(x, k, padding=1).abs()
    interior = -F.max_pool2d(-m, 3, stride=1, padding=1)   # eroded soft mask
    texture = (lap * interior).sum(dim=(1, 2, 3)) / (interior.sum(dim=(1, 2, 3)) + 1.0)
    return torch.stack([bright, size, texture], dim=1)


def eval_stats(x: Tensor) -> Tensor:
    """Hard-thresholded statistics for the (unseen) evaluator -> [B,3].
    brightness: fraction of foreground pixels (>0.05) brighter than 0.5;
    size: bounding-box area fraction of pixels > 0.25;
    texture: mean absolute first difference between neighbouring foreground pixels."""
    fg = (x > 0.05).to(x.dtype)
    nfg = fg.sum(dim=(1, 2, 3))
    bright = ((x > 0.5).to(x.dtype) * fg).sum(dim=(1, 2, 3)) / (nfg + 1.0)
    on = x > 0.25
    rows = on.any(dim=3).squeeze(1).to(x.dtype).sum(dim=1)  # [B]
    cols = on.any(dim=2).squeeze(1).to(x.dtype).sum(dim=1)
    size = rows * cols / 784.0
    dh = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs() * fg[:, :, :, 1:] * fg[:, :, :, :-1]
    dv = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs() * fg[:, :, 1:, :] * fg[:, :, :-1, :]
    npair = (fg[:, :, :, 1:] * fg[:, :, :, :-1]).sum(dim=(1, 2, 3)) + \
        (fg[:, :, 1:, :] * fg[:, :, :-1, :]).sum(dim=(1, 2, 3))
    texture = (dh.sum(dim=(1, 2, 3)) + dv.sum(dim=(1, 2, 3))) / (npair + 1.0)
    return torch.stack([bright, size, texture], dim=1)


# ----------------------------------------------------------------------------
# classifiers
# ----------------------------------------------------------------------------

class GuidanceCNN(nn.Module):
    """3x3 conv net with global average pooling (guidance classifier)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 64, 3, padding=1)
        self.c4 = nn.Conv2d(64, 64, 3, padding=1)
        self.c5 = nn.Conv2d(64, 128, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(128, 10)

    def features(self, x: Tensor) -> Tensor:
        h = F.relu(self.c1(x))
        h = F.max_pool2d(F.relu(self.c2(h)), 2)
        h = F.relu(self.c3(h))
        h = F.max_pool2d(F.relu(self.c4(h)), 2)
        h = F.relu(self.c5(h))
        return h.mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(self.features(x)))


class EvalCNN(nn.Module):
    """5x5 conv net with a fully connected head (independent evaluator)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 5, padding=2)
        self.c2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x: Tensor) -> Tensor:
        h = F.max_pool2d(F.relu(self.c1(x)), 2)
        h = F.max_pool2d(F.relu(self.c2(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.features(x)))


# ----------------------------------------------------------------------------
# generative nets
# ----------------------------------------------------------------------------

def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) *
                      torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int, groups: int = 8):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.e = nn.Linear(emb, cout)
        self.n2 = nn.GroupNorm(groups, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.skip = nn.Conv2d(cin, cout, 1)
        else:
            self.skip = nn.Identity()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.e(e)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class CondEmbed(nn.Module):
    """time (float, ~[0,1000)) + class (cond[:, :11]) -> embedding (already SiLU'd)."""

    def __init__(self, emb: int, tdim: int = 64):
        super().__init__()
        self.tdim = tdim
        self.t1 = nn.Linear(tdim, emb)
        self.t2 = nn.Linear(emb, emb)
        self.cls = nn.Linear(11, emb)

    def forward(self, t: Tensor, cond: Tensor) -> Tensor:
        te = self.t2(F.silu(self.t1(timestep_embedding(t, self.tdim))))
        ce = self.cls(cond[:, :11].to(te.dtype))
        return F.silu(te + ce)


class PixelUNet(nn.Module):
    """Small class-conditional conv UNet on 1x28x28 (epsilon prediction)."""

    def __init__(self, c1: int = 32, c2: int = 48, c3: int = 64, emb: int = 96):
        super().__init__()
        self.embed = CondEmbed(emb)
        self.inc = nn.Conv2d(1, c1, 3, padding=1)
        self.d1 = ResBlock(c1, c1, emb)
        self.down1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)      # 28 -> 14
        self.d2 = ResBlock(c1, c2, emb)
        self.down2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)      # 14 -> 7
        self.mid = ResBlock(c2, c3, emb)
        self.u2 = ResBlock(c3 + c2, c2, emb)
        self.u1 = ResBlock(c2 + c1, c1, emb)
        self.nout = nn.GroupNorm(8, c1)
        self.out = nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        e = self.embed(t, cond)
        h0 = self.inc(x)
        s1 = self.d1(h0, e)                         # 28
        s2 = self.d2(self.down1(s1), e)             # 14
        h = self.mid(self.down2(s2), e)             # 7
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")       # 14
        h = self.u2(torch.cat([h, s2], dim=1), e)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")       # 28
        h = self.u1(torch.cat([h, s1], dim=1), e)
        return self.out(F.silu(self.nout(h)))


class LatentVelocityNet(nn.Module):
    """Class-conditional conv net on 4x7x7 latents (velocity prediction)."""

    def __init__(self, ch: int = 64, nblocks: int = 5, emb: int = 96, zc: int = 4):
        super().__init__()
        self.embed = CondEmbed(emb)
        self.inc = nn.Conv2d(zc, ch, 3, padding=1)
        self.blocks = nn.ModuleList([ResBlock(ch, ch, emb) for _ in range(nblocks)])
        self.nout = nn.GroupNorm(8, ch)
        self.out = nn.Conv2d(ch, zc, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        e = self.embed(t, cond)
        h = self.inc(x)
        for blk in self.blocks:
            h = blk(h, e)
        return self.out(F.silu(self.nout(h)))


class AEEncoder(nn.Module):
    def __init__(self, zc: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SiLU(),   # 14
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.SiLU(),   # 7
            nn.Conv2d(64, zc, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class AEDecoder(nn.Module):
    def __init__(self, zc: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(zc, 64, 3, padding=1), nn.SiLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),           # 14
            nn.Conv2d(64, 48, 3, padding=1), nn.SiLU(),
            nn.Conv2d(48, 48, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),           # 28
            nn.Conv2d(48, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 1, 3, padding=1))

    def forward(self, z: Tensor) -> Tensor:
        """Returns logits; apply sigmoid for pixels in [0,1]."""
        return self.net(z)


# ----------------------------------------------------------------------------
# DDPM schedule
# ----------------------------------------------------------------------------

def ddpm_alphas_cumprod(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------
# training helpers
# ----------------------------------------------------------------------------

def train_args(desc: str, iters: int, batch: int, lr: float, seed: int, max_seconds: float = 1e9):
    """Command line: --iters --batch --lr --seed --max-seconds (env EVO_SCALE multiplies iters)."""
    import argparse
    ap = argparse.ArgumentParser(description=desc)
    ap.add_argument("--iters", type=int, default=int(iters * float(os.environ.get("EVO_SCALE", "1"))))
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--max-seconds", type=float, default=max_seconds,
                    help="stop early (cosine schedule is still sized for --iters)")
    return ap.parse_args()


def lr_at(it: int, total: int, base: float, warmup: int = 200) -> float:
    if it < warmup:
        return base * (it + 1) / warmup
    p = min(1.0, (it - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def set_lr(opt, lr: float):
    for g in opt.param_groups:
        g["lr"] = lr


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, device, bs: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], bs):
        p = model(x[i:i + bs].to(device)).argmax(1).cpu()
        correct += int((p == y[i:i + bs]).sum())
    return correct / x.shape[0]


def budget_total(it: int, t0: float, args, total: int) -> int:
    """After 100 iterations, shrink the planned iteration count (and so the LR schedule)
    so that training ends within --max-seconds."""
    import time
    if it == 100 and args.max_seconds < 1e8:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        rate = (time.time() - t0) / 100.0
        fit = int(args.max_seconds / rate)
        if fit < total:
            print(f"  time budget {args.max_seconds:.0f}s at {rate*1000:.1f} ms/iter -> {fit} iters", flush=True)
            return fit
    return total


def train_denoiser(name: str, model: nn.Module, data_size: int, loss_fn, args, dev) -> None:
    """The shared training loop of the generators: AdamW, warm-up + cosine LR, grad clip 1,
    EMA 0.999 (the EMA weights are saved). loss_fn(model, idx) returns the batch loss for
    the sample indices idx."""
    ema = EMA(model, 0.999)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    t0 = time.time()
    it = 0
    avg = 0.0
    total = args.iters
    for it in range(args.iters):
        total = budget_total(it, t0, args, total)
        if it >= total:
            it -= 1
            break
        idx = torch.randint(0, data_size, (args.batch,), device=dev)
        loss = loss_fn(model, idx)
        set_lr(opt, lr_at(it, total, args.lr))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        if it % 50 == 0:
            avg = 0.8 * avg + 0.2 * loss.item() if it else loss.item()
        if it % 500 == 0:
            print(f"[{name}] it {it} loss(avg) {avg:.4f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el = time.time() - t0
    print(f"[{name}] done {done} iters batch {args.batch} in {el:.1f}s on {dev}; final avg loss {avg:.4f}; "
          f"params {nparams(model)}", flush=True)
    ema.copy_to(model)
    model.cpu()
    save_ckpt(name, model, {"iters": done, "batch": args.batch, "seconds": el, "loss": avg,
                            "device_cuda": float(dev.type == "cuda")})
