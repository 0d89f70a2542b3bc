"""Shared code for the fashion-video bundle.

Moving-item clips made on the fly from Fashion-MNIST, the video prompt vocabulary and its
TorchScript encoder, clip statistics, and the video nets (frame autoencoder, factorised
(2+1)D velocity net, frame classifiers).  Every nn.Module here is TorchScript-compatible
(torch 1.13+).
"""
import math
import os
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

import common as C

FRAMES = 8
CANVAS = 32
ITEM = 16                       # items are downscaled 28 -> 16 px and move on a 32x32 canvas
LATENT = [4, FRAMES, 8, 8]      # [C,F,H,W]: one 4x8x8 autoencoder latent per frame
VCOND_DIM = 18
GEN_COND = 15                   # the generator sees cond[:, :15]: class, null flag, direction
DIRECTIONS = ["left", "right", "up", "down"]
DIR_VEC = [(-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)]   # (dx, dy); y grows downwards
SPEED_RANGE = (0.5, 2.0)        # px per frame, uniform
GAIN_RANGE = (0.4, 1.0)         # base intensity of the item, uniform
FADE_RATIO = (0.2, 0.5)         # intensity of the faint end of a fading clip, relative to the bright end
P_FADE_OUT = 0.3
P_FADE_IN = 0.3
FRAME_GAIN_RANGE = (0.08, 1.0)  # single frames for the autoencoder and the frame classifiers

# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads): on a shared machine a
    fairer measure of training cost than wall time."""
    t = os.times()
    return t.user + t.system


def load_items(split: str):
    """Fashion-MNIST items downscaled to ITEM x ITEM: ([N,1,16,16] in [0,1], labels [N])."""
    x, y = C.load_fashion(split)
    return F.interpolate(x, size=(ITEM, ITEM), mode="area"), y


def render(items: Tensor, left: Tensor, top: Tensor, gain: Tensor) -> Tensor:
    """Paste items [N,1,16,16] on CANVAS x CANVAS canvases with their top-left corner at the
    sub-pixel position (left, top) [N] (bilinear), times gain [N] -> [N,1,32,32]."""
    n = items.shape[0]
    centres = torch.arange(CANVAS, dtype=torch.float32, device=items.device) + 0.5
    # canvas pixel centre -> normalised item coordinate (align_corners=False: 2u/ITEM - 1)
    gx = (centres[None, :] - left[:, None]) * (2.0 / ITEM) - 1.0          # [N,W]
    gy = (centres[None, :] - top[:, None]) * (2.0 / ITEM) - 1.0           # [N,H]
    grid = torch.stack([gx[:, None, :].expand(n, CANVAS, CANVAS),
                        gy[:, :, None].expand(n, CANVAS, CANVAS)], dim=-1)
    out = F.grid_sample(items, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out * gain.view(-1, 1, 1, 1)


def make_frames(items: Tensor, labels: Tensor, n: int, gen: torch.Generator = None):
    """n single frames: a random item anywhere on the canvas with a random (log-uniform) gain,
    for the autoencoder and the frame classifiers. -> ([n,1,32,32], labels [n])."""
    idx = torch.randint(0, items.shape[0], (n,), generator=gen)
    pos = torch.rand(n, 2, generator=gen) * (CANVAS - ITEM)
    lo, hi = math.log(FRAME_GAIN_RANGE[0]), math.log(FRAME_GAIN_RANGE[1])
    gain = torch.exp(lo + (hi - lo) * torch.rand(n, generator=gen))
    return render(items[idx], pos[:, 0], pos[:, 1], gain), labels[idx]


def make_clips(items: Tensor, labels: Tensor, n: int, gen: torch.Generator = None) -> Dict[str, Tensor]:
    """n clips [n,1,FRAMES,32,32]: one item moving in a straight line at constant speed, fully
    inside the canvas, with a base intensity and optionally fading out or in. Returns the clips
    and their ground truth (label, direction index, speed px/frame, base gain, fade -1/0/+1)."""
    idx = torch.randint(0, items.shape[0], (n,), generator=gen)
    direction = torch.randint(0, 4, (n,), generator=gen)
    speed = SPEED_RANGE[0] + (SPEED_RANGE[1] - SPEED_RANGE[0]) * torch.rand(n, generator=gen)
    room = float(CANVAS - ITEM)
    travel = speed * (FRAMES - 1)
    dvec = torch.tensor(DIR_VEC)[direction]                                   # [n,2]
    # along the motion: start where the whole path fits; across it: anywhere within 2 px of the edge
    start_along = torch.rand(n, generator=gen) * (room - travel)
    across = 2.0 + torch.rand(n, generator=gen) * (room - 4.0)
    t = torch.arange(FRAMES, dtype=torch.float32)
    along = start_along[:, None] + speed[:, None] * t[None, :]               # [n,F], increasing
    neg = (dvec.sum(1) < 0)[:, None]                                         # left / up: reversed
    along = torch.where(neg, room - along, along)
    horizontal = (dvec[:, 0] != 0)[:, None]
    left = torch.where(horizontal, along, across[:, None].expand(n, FRAMES))
    top = torch.where(horizontal, across[:, None].expand(n, FRAMES), along)
    base = GAIN_RANGE[0] + (GAIN_RANGE[1] - GAIN_RANGE[0]) * torch.rand(n, generator=gen)
    ratio = FADE_RATIO[0] + (FADE_RATIO[1] - FADE_RATIO[0]) * torch.rand(n, generator=gen)
    u = torch.rand(n, generator=gen)
    fade = torch.where(u < P_FADE_OUT, -torch.ones(n),
                       torch.where(u < P_FADE_OUT + P_FADE_IN, torch.ones(n), torch.zeros(n)))
    frac = t[None, :] / (FRAMES - 1)                                        # 0..1 over the clip
    # geometric fades: the log intensity changes linearly over the clip
    expo = torch.where(fade[:, None] < 0, frac, torch.where(fade[:, None] > 0, 1.0 - frac, torch.zeros_like(frac)))
    gain = base[:, None] * ratio[:, None] ** expo                           # [n,F]
    it = items[idx][:, None].expand(n, FRAMES, 1, ITEM, ITEM).reshape(n * FRAMES, 1, ITEM, ITEM)
    frames = render(it, left.reshape(-1), top.reshape(-1), gain.reshape(-1))
    clips = frames.view(n, FRAMES, 1, CANVAS, CANVAS).transpose(1, 2).contiguous()
    return {"clips": clips, "labels": labels[idx], "direction": direction, "speed": speed,
            "base": base, "fade": fade}


def clip_cond(labels: Tensor, direction: Tensor, p_null: float = 0.0, p_no_dir: float = 0.0,
              p_no_class: float = 0.0) -> Tensor:
    """[B,18] training condition: class one-hot + direction one-hot, attributes 0. With
    probability p_null both are dropped (the CFG null condition); otherwise the direction alone
    with p_no_dir and the class alone with p_no_class, so prompts naming only one still work."""
    B = labels.shape[0]
    c = torch.zeros(B, VCOND_DIM, device=labels.device)
    ar = torch.arange(B, device=labels.device)
    c[ar, labels] = 1.0
    c[ar, 11 + direction] = 1.0
    u = torch.rand(B, device=labels.device)
    drop_all = u < p_null
    drop_dir = (u >= p_null) & (torch.rand(B, device=labels.device) < p_no_dir)
    drop_cls = (u >= p_null) & ~drop_dir & (torch.rand(B, device=labels.device) < p_no_class)
    c[drop_all | drop_dir, 11:15] = 0.0
    cls_gone = drop_all | drop_cls
    c[cls_gone, :10] = 0.0
    c[cls_gone, 10] = 1.0
    return c


def frames_of(clips: Tensor) -> Tensor:
    """[B,C,F,H,W] -> [B*F,C,H,W] (frame-major within each clip)."""
    s = clips.shape
    return clips.transpose(1, 2).reshape(s[0] * s[2], s[1], s[3], s[4])


def clips_of(frames: Tensor, n_frames: int) -> Tensor:
    """[B*F,C,H,W] -> [B,C,F,H,W]."""
    s = frames.shape
    return frames.view(s[0] // n_frames, n_frames, s[1], s[2], s[3]).transpose(1, 2)


# ----------------------------------------------------------------------------
# prompt vocabulary and encoder
# ----------------------------------------------------------------------------

DIRECTION_WORDS: Dict[str, int] = {
    "left": 0, "leftward": 0, "leftwards": 0, "westward": 0,
    "right": 1, "rightward": 1, "rightwards": 1, "eastward": 1,
    "up": 2, "upward": 2, "upwards": 2, "rising": 2, "ascending": 2, "climbing": 2,
    "down": 3, "downward": 3, "downwards": 3, "falling": 3, "descending": 3, "sinking": 3, "dropping": 3,
}
SPEED_WORDS: Dict[str, float] = {
    "slow": -1.0, "slowly": -1.0, "gently": -1.0, "leisurely": -1.0, "unhurried": -1.0, "sluggish": -1.0,
    "fast": 1.0, "quickly": 1.0, "quick": 1.0, "rapidly": 1.0, "rapid": 1.0, "swiftly": 1.0,
    "swift": 1.0, "speedy": 1.0, "racing": 1.0, "zooming": 1.0,
}
FADE_WORDS: Dict[str, float] = {
    "fading": -1.0, "fades": -1.0, "fade": -1.0, "vanishing": -1.0, "vanish": -1.0,
    "disappearing": -1.0, "disappear": -1.0, "dimming": -1.0, "evanescent": -1.0,
    "brightening": 1.0, "brighten": 1.0, "appearing": 1.0, "appear": 1.0, "emerging": 1.0,
    "emerge": 1.0, "materializing": 1.0, "materialising": 1.0, "intensifying": 1.0,
}


class VideoPromptEncoder(nn.Module):
    """forward(prompts: List[str]) -> [B,18] condition.

    Layout: [0..9] class one-hot, [10] null flag (no class word found), [11..14] direction
    one-hot (left, right, up, down; all 0 when unspecified), [15] brightness (-1 dark / +1
    bright), [16] speed (-1 slow / +1 fast), [17] intensity over time (-1 fading / +1
    brightening or "fading in"). Tokenising as the image encoder: lower-case, split on anything
    that is not a letter, digit or '-', plurals tried without s/es; the first class word wins,
    for direction and the attributes the last word wins.
    """

    def __init__(self):
        super().__init__()
        self.class_words: Dict[str, int] = dict(C.CLASS_WORDS)
        self.bright_words: Dict[str, float] = dict(C.BRIGHT_WORDS)
        self.direction_words: Dict[str, int] = dict(DIRECTION_WORDS)
        self.speed_words: Dict[str, float] = dict(SPEED_WORDS)
        self.fade_words: Dict[str, float] = dict(FADE_WORDS)
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

    def known(self, w: str) -> bool:
        return (w in self.class_words) or (w in self.bright_words) or (w in self.direction_words) or \
            (w in self.speed_words) or (w in self.fade_words)

    def normalize(self, w: str) -> str:
        """Return w, or a singular form of w that is in some vocabulary."""
        if self.known(w):
            return w
        if len(w) > 3 and w.endswith("s") and self.known(w[:-1]):
            return w[:-1]
        if len(w) > 4 and w.endswith("es") and self.known(w[:-2]):
            return w[:-2]
        return w

    def encode_one(self, prompt: str) -> List[float]:
        toks = self.tokenize(prompt)
        cls = -1
        direction = -1
        bright = 0.0
        speed = 0.0
        fade = 0.0
        n = len(toks)
        for j in range(n):
            w = self.normalize(toks[j])
            nxt = ""
            if j + 1 < n:
                nxt = self.normalize(toks[j + 1])
            if cls < 0:
                if (w == "t" or w == "tee") and nxt == "shirt":
                    cls = 0
                elif w in self.class_words:
                    cls = self.class_words[w]
            if w in self.bright_words:
                bright = self.bright_words[w]
            if w in self.direction_words:
                direction = self.direction_words[w]
            if w in self.speed_words:
                speed = self.speed_words[w]
            if w in self.fade_words:
                fade = self.fade_words[w]
                if fade < 0 and nxt == "in":          # "fading in" / "fades in"
                    fade = 1.0
        row: List[float] = [0.0] * 18
        if cls >= 0:
            row[cls] = 1.0
        else:
            row[10] = 1.0
        if direction >= 0:
            row[11 + direction] = 1.0
        row[15] = bright
        row[16] = speed
        row[17] = fade
        return row

    def forward(self, prompts: List[str]) -> Tensor:
        rows: List[List[float]] = []
        for p in prompts:
            rows.append(self.encode_one(p))
        if len(rows) == 0:
            return torch.zeros(0, 18, dtype=torch.float32, device=self.anchor.device)
        return torch.tensor(rows, dtype=torch.float32, device=self.anchor.device)


# ----------------------------------------------------------------------------
# clip statistics
# ----------------------------------------------------------------------------


def _slope(y: Tensor) -> Tensor:
    """Least-squares slope per frame of y [B,F] over the frame index."""
    n = y.shape[1]
    t = torch.arange(n, dtype=y.dtype, device=y.device)
    tc = t - t.mean()
    return ((y - y.mean(dim=1, keepdim=True)) * tc).sum(dim=1) / (tc * tc).sum()


def match_track(x: Tensor) -> Tensor:
    """Intensity-weighted centroid of every frame (soft noise floor at 0.03), in pixels.
    x [B,1,F,H,W] -> [B,F,2] (x, y)."""
    w = x[:, 0] * torch.sigmoid((x[:, 0] - 0.03) * 50.0)                   # [B,F,H,W]
    H, W = x.shape[3], x.shape[4]
    ys = torch.arange(H, dtype=x.dtype, device=x.device) + 0.5
    xs = torch.arange(W, dtype=x.dtype, device=x.device) + 0.5
    tot = w.sum(dim=(2, 3)) + 1e-3
    cx = (w.sum(dim=2) * xs).sum(dim=2) / tot
    cy = (w.sum(dim=3) * ys).sum(dim=2) / tot
    # an empty frame has no centroid: put it at the canvas centre
    cx = torch.where(tot > 0.5, cx, torch.full_like(cx, W / 2.0))
    cy = torch.where(tot > 0.5, cy, torch.full_like(cy, H / 2.0))
    return torch.stack([cx, cy], dim=2)


def match_stats(x: Tensor) -> Tensor:
    """Smooth clip statistics of the guidance reward. x [B,1,F,H,W] in [0,1] -> [B,5]:
    velocity x, velocity y (least-squares slope of the centroid, px/frame), speed (its norm),
    brightness (mean intensity over the soft foreground sigmoid(40 (x-0.05)) of all frames),
    fade (least-squares slope of log(1 + total intensity) per frame)."""
    track = match_track(x)
    vx, vy = _slope(track[:, :, 0]), _slope(track[:, :, 1])
    speed = torch.sqrt(vx * vx + vy * vy + 1e-6)
    m = torch.sigmoid((x - 0.05) * 40.0)
    bright = (x * m).sum(dim=(1, 2, 3, 4)) / (m.sum(dim=(1, 2, 3, 4)) + 1.0)
    fade = _slope(torch.log1p(x.sum(dim=(1, 3, 4))))
    return torch.stack([vx, vy, speed, bright, fade], dim=1)


def _first_last(occ: Tensor):
    """occ bool [..., N] -> (first, last) index of the True entries (0 and N-1 when none)."""
    n = occ.shape[-1]
    o = occ.to(torch.int64)
    first = o.argmax(dim=-1)
    last = n - 1 - o.flip(-1).argmax(dim=-1)
    none = o.sum(dim=-1) == 0
    first = torch.where(none, torch.zeros_like(first), first)
    last = torch.where(none, torch.full_like(last, n - 1), last)
    return first.to(torch.float32), last.to(torch.float32)


def eval_boxes(x: Tensor) -> Tensor:
    """Bounding box of every frame, thresholded at a quarter of the frame's peak (at least
    0.02): x [B,1,F,H,W] -> [B,F,4] (centre x, centre y, width, height) in pixels."""
    f = x[:, 0]                                                              # [B,F,H,W]
    peak = f.amax(dim=(2, 3), keepdim=True)
    on = f > (0.25 * peak).clamp(min=0.02)
    x0, x1 = _first_last(on.any(dim=2))
    y0, y1 = _first_last(on.any(dim=3))
    return torch.stack([(x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2, x1 - x0 + 1, y1 - y0 + 1], dim=2)


def eval_stats(x: Tensor) -> Tensor:
    """Hard-thresholded clip statistics of the evaluator. x [B,1,F,H,W] -> [B,6]:
    displacement of the bounding-box centre x, y (px/frame: the mean centre of the last three
    frames minus that of the first three, over F - 3 frames), speed (its norm), peak brightness (the 90th percentile of the pixels > 0.05 over the clip), fade
    (log ratio of the intensity above 0.02 in the last two frames to the first two), box
    instability (coefficient of variation of the box area over the frames)."""
    B = x.shape[0]
    box = eval_boxes(x)
    n = box.shape[1]
    disp = (box[:, n - 3:, :2].mean(dim=1) - box[:, :3, :2].mean(dim=1)) / float(n - 3)
    speed = torch.sqrt((disp * disp).sum(dim=1))
    flat = x.reshape(B, -1)
    nfg = (flat > 0.05).sum(dim=1)
    srt = flat.sort(dim=1, descending=True).values
    k = (nfg.to(torch.float32) * 0.1).floor().to(torch.int64).clamp(max=flat.shape[1] - 1)
    bright = srt.gather(1, k[:, None])[:, 0]
    mass = (x[:, 0] * (x[:, 0] > 0.02).to(x.dtype)).sum(dim=(2, 3))        # [B,F]
    fade = torch.log((mass[:, -2:].sum(dim=1) + 1.0) / (mass[:, :2].sum(dim=1) + 1.0))
    area = box[:, :, 2] * box[:, :, 3]
    cv = area.std(dim=1) / (area.mean(dim=1) + 1.0)
    return torch.stack([disp[:, 0], disp[:, 1], speed, bright, fade, cv], dim=1)


# ----------------------------------------------------------------------------
# frame classifiers (32x32 canvas frames)
# ----------------------------------------------------------------------------


class FrameGuidanceCNN(nn.Module):
    """video-match's frame classifier: the frame divided by its peak (+0.05), five 3x3 convs
    with GroupNorm, two max-pools, global average pooling. Dividing by the peak makes a faint
    (fading, dark) item look like a bright one."""

    def __init__(self):
        super().__init__()
        ch = [1, 16, 32, 32, 64, 64]
        self.convs = nn.ModuleList([nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(5)])
        self.norms = nn.ModuleList([nn.GroupNorm(8, ch[i + 1]) for i in range(5)])
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(64, 10)

    def features(self, x: Tensor) -> Tensor:
        h = x / (x.amax(dim=(1, 2, 3), keepdim=True) + 0.05)
        i = 0
        for conv, norm in zip(self.convs, self.norms):
            h = F.relu(norm(conv(h)))
            if i == 0 or i == 2:
                h = F.max_pool2d(h, 2)                   # 32 -> 16 -> 8
            i += 1
        return h.mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(self.features(x)))


class FrameEvalCNN(nn.Module):
    """video-eval's frame classifier: the frame standardised (zero mean, unit std + 0.02), 5x5
    convs with BatchNorm and max-pools, a fully connected head."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 5, padding=2)
        self.b1 = nn.BatchNorm2d(12)
        self.c2 = nn.Conv2d(12, 24, 5, padding=2)
        self.b2 = nn.BatchNorm2d(24)
        self.c3 = nn.Conv2d(24, 48, 3, padding=1)
        self.b3 = nn.BatchNorm2d(48)
        self.fc1 = nn.Linear(48 * 4 * 4, 96)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(96, 10)

    def features(self, x: Tensor) -> Tensor:
        x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), keepdim=True) + 0.02)
        h = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)     # 16
        h = F.max_pool2d(F.relu(self.b2(self.c2(h))), 2)     # 8
        h = F.max_pool2d(F.relu(self.b3(self.c3(h))), 2)     # 4
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.features(x)))


# ----------------------------------------------------------------------------
# frame autoencoder 1x32x32 <-> 4x8x8
# ----------------------------------------------------------------------------


class FrameEncoder(nn.Module):
    """Space-to-depth to 4x16x16, then convs (one stride 2) to 4x8x8."""

    def __init__(self, zc: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2),                                    # 4x16x16
            nn.Conv2d(4, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SiLU(),   # 8
            nn.Conv2d(64, zc, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class FrameDecoder(nn.Module):
    """Convs at 8x8 and 16x16, then depth-to-space from 4x16x16 to 1x32x32."""

    def __init__(self, zc: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(zc, 64, 3, padding=1), nn.SiLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),           # 16
            nn.Conv2d(64, 48, 3, padding=1), nn.SiLU(),
            nn.Conv2d(48, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 4, 3, padding=1),
            nn.PixelShuffle(2))                                      # 1x32x32

    def forward(self, z: Tensor) -> Tensor:
        """Returns logits; apply sigmoid for pixels in [0,1]."""
        return self.net(z)


# ----------------------------------------------------------------------------
# velocity net over [C,F,H,W] latents
# ----------------------------------------------------------------------------


class VideoCondEmbed(nn.Module):
    """time (float, ~[0,1000)) + class/null/direction (cond[:, :15]) -> embedding (SiLU'd)."""

    def __init__(self, emb: int, tdim: int = 64):
        super().__init__()
        self.tdim = tdim
        self.t1 = nn.Linear(tdim, emb)
        self.t2 = nn.Linear(emb, emb)
        self.ncond = GEN_COND
        self.cls = nn.Linear(GEN_COND, emb)

    def forward(self, t: Tensor, cond: Tensor) -> Tensor:
        te = self.t2(F.silu(self.t1(C.timestep_embedding(t, self.tdim))))
        ce = self.cls(cond[:, :self.ncond].to(te.dtype))
        return F.silu(te + ce)


class STBlock(nn.Module):
    """Residual block of two factorised (2+1)D convolutions: a 3x3 spatial conv on every frame
    followed by a 3-tap temporal conv at every pixel; GroupNorm-SiLU before each, the embedding
    added after the first."""

    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.s1 = nn.Conv3d(cin, cout, (1, 3, 3), padding=(0, 1, 1))
        self.t1 = nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0))
        self.e = nn.Linear(emb, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.s2 = nn.Conv3d(cout, cout, (1, 3, 3), padding=(0, 1, 1))
        self.t2 = nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0))
        if cin != cout:
            self.skip = nn.Conv3d(cin, cout, 1)
        else:
            self.skip = nn.Identity()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.t1(self.s1(F.silu(self.n1(x))))
        h = h + self.e(e)[:, :, None, None, None]
        h = self.t2(self.s2(F.silu(self.n2(h))))
        return h + self.skip(x)


class VideoVelocityNet(nn.Module):
    """Class- and direction-conditional velocity net on [4,F,8,8] latents: a two-level UNet of
    STBlocks (c1 channels at 8x8, c2 at 4x4, skip concatenation) with a learned per-frame
    position embedding at the input."""

    def __init__(self, c1: int = 24, c2: int = 48, nmid: int = 3, emb: int = 96, zc: int = 4,
                 frames: int = FRAMES):
        super().__init__()
        self.embed = VideoCondEmbed(emb)
        self.inc = nn.Conv3d(zc, c1, (1, 3, 3), padding=(0, 1, 1))
        self.frame_pos = nn.Parameter(torch.zeros(1, c1, frames, 1, 1))
        self.d1 = STBlock(c1, c1, emb)
        self.down = nn.Conv3d(c1, c2, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.mid = nn.ModuleList([STBlock(c2, c2, emb) for _ in range(nmid)])
        self.u1 = STBlock(c2 + c1, c1, emb)
        self.nout = nn.GroupNorm(8, c1)
        self.out = nn.Conv3d(c1, zc, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        e = self.embed(t, cond)
        s1 = self.d1(self.inc(x) + self.frame_pos, e)             # 8x8
        h = self.down(s1)                                          # 4x4
        for blk in self.mid:
            h = blk(h, e)
        h = F.interpolate(h, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        h = self.u1(torch.cat([h, s1], dim=1), e)
        return self.out(F.silu(self.nout(h)))
