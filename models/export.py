"""Export both bundles (models/fashion-ddpm, models/fashion-flow) as TorchScript + manifest.json.

Needs the checkpoints written by the train_*.py scripts (models/checkpoints/*.npz)."""
import json
import os
import shutil

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

import common as C

W_CLASS = 1.0      # weight of log p(prompted class), clamped at LOGP_MIN
W_ATTR = 1.0       # weight of each (target * clipped z-score) attribute term
LOGP_MIN = -10.0
Z_CLIP = 3.0


class Denoiser(nn.Module):
    """forward(x [B,*latent], t [B] float, cond [B,16]) -> like x. Uses only cond[:, :11]."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        c = cond[:, :11].to(device=x.device, dtype=x.dtype)
        return self.net(x, t.to(device=x.device, dtype=x.dtype), c)


class PixelDecoder(nn.Module):
    """DDPM decoder: pixels = clamp((x + 1) / 2, 0, 1)."""

    def forward(self, z: Tensor) -> Tensor:
        return ((z + 1.0) * 0.5).clamp(0.0, 1.0)

    @torch.jit.export
    def encode(self, pixels: Tensor) -> Tensor:
        return pixels * 2.0 - 1.0


class LatentDecoder(nn.Module):
    """Flow decoder: pixels = sigmoid(AE_decoder(z / scale + shift)); encode() is the inverse map."""

    def __init__(self, enc: nn.Module, dec: nn.Module, shift: float, scale: float):
        super().__init__()
        self.enc = enc
        self.dec = dec
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.dec(z / self.scale + self.shift)).clamp(0.0, 1.0)

    @torch.jit.export
    def encode(self, pixels: Tensor) -> Tensor:
        return (self.enc(pixels) - self.shift) * self.scale


class FashionReward(nn.Module):
    """score = W_CLASS * max(log p(class), LOGP_MIN) [only if a class is given]
             + W_ATTR * sum_a target_a * clip(z_a, -Z_CLIP, Z_CLIP)
    with z_a = (stat_a - center[class, a]) / spread[class, a]; row 10 = all classes (null prompt)."""

    def __init__(self, clf: nn.Module, center: Tensor, spread: Tensor, use_eval_stats: bool):
        super().__init__()
        self.clf = clf
        self.register_buffer("center", center.float())    # [11,3]
        self.register_buffer("spread", spread.float())    # [11,3]
        self.use_eval_stats = use_eval_stats
        self.w_class = W_CLASS
        self.w_attr = W_ATTR
        self.logp_min = LOGP_MIN
        self.z_clip = Z_CLIP

    def stats(self, x: Tensor) -> Tensor:
        if self.use_eval_stats:
            return C.eval_stats(x)
        return C.guidance_stats(x)

    def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        cond = cond.to(device=x.device, dtype=torch.float32)
        logp = F.log_softmax(self.clf(x), dim=1).clamp(min=self.logp_min)
        onehot = cond[:, :10]
        cls_term = (logp * onehot).sum(dim=1)          # 0 for the null condition
        sel = cond[:, :11]
        missing = (1.0 - sel.sum(dim=1, keepdim=True)).clamp(0.0, 1.0)
        sel = torch.cat([sel[:, :10], sel[:, 10:11] + missing], dim=1)
        sel = sel / sel.sum(dim=1, keepdim=True)
        center = sel @ self.center
        spread = sel @ self.spread
        z = ((self.stats(x) - center) / spread).clamp(-self.z_clip, self.z_clip)
        attr = (cond[:, 11:14] * z).sum(dim=1)
        return self.w_class * cls_term + self.w_attr * attr

    @torch.jit.export
    def features(self, pixels: Tensor) -> Tensor:
        return self.clf.features(pixels.to(torch.float32).clamp(0.0, 1.0))

    @torch.jit.export
    def attribute_stats(self, pixels: Tensor) -> Tensor:
        """Raw (brightness, size, texture) statistics [B,3]."""
        return self.stats(pixels.to(torch.float32).clamp(0.0, 1.0))


def class_table(stats: Tensor, labels: Tensor, robust: bool):
    """[11,3] center/spread per class (+ row 10 over all classes)."""
    centers, spreads = [], []
    for c in list(range(10)) + [-1]:
        s = stats if c < 0 else stats[labels == c]
        if robust:
            q = torch.quantile(s, torch.tensor([0.25, 0.5, 0.75]), dim=0)
            centers.append(q[1])
            spreads.append(((q[2] - q[0]) / 1.349).clamp(min=1e-4))
        else:
            centers.append(s.mean(0))
            spreads.append(s.std(0).clamp(min=1e-4))
    return torch.stack(centers), torch.stack(spreads)


def script_save(m: nn.Module, path: str):
    m.eval()
    sm = torch.jit.script(m)
    sm.eval()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.jit.save(sm, path)


def rewards_desc():
    return [
        {"name": "fashion-match", "file": "rewards/fashion_match.pt", "guidance": True,
         "description": "Guidance reward: how well the image matches the whole prompt. "
                        "log p(prompted class) from a 3x3-conv CNN (clamped at -10; omitted for the null prompt) "
                        "+ sum over specified attributes of target * z-score (clipped to +-3) of a smooth pixel "
                        "statistic (brightness = mean foreground intensity, size = fraction of pixels > 0.2, "
                        "texture = mean |Laplacian| on the eroded foreground), normalised by the train split's "
                        "per-class mean/std. Weights 1 and 1. Higher is better."},
        {"name": "fashion-eval", "file": "rewards/fashion_eval.pt", "guidance": False,
         "description": "Held-out evaluator, never used for guidance: log p(prompted class) from an independently "
                        "trained 5x5-conv CNN with an FC head (different seed), + target * robust z-score "
                        "(median / IQR, clipped to +-3) of thresholded statistics (bright-pixel fraction, "
                        "bounding-box area, mean neighbour difference). Weights 1 and 1. Higher is better."},
    ]


def main():
    torch.manual_seed(0)
    out_root = C.HERE
    x, y = C.load_fashion("train")

    # --- reward modules -------------------------------------------------------
    gclf, eclf = C.GuidanceCNN(), C.EvalCNN()
    C.load_ckpt("guidance_clf", gclf)
    C.load_ckpt("eval_clf", eclf)
    with torch.no_grad():
        gs = torch.cat([C.guidance_stats(x[i:i + 5000]) for i in range(0, x.shape[0], 5000)])
        es = torch.cat([C.eval_stats(x[i:i + 5000]) for i in range(0, x.shape[0], 5000)])
    gc, gsd = class_table(gs, y, robust=False)
    ec, esd = class_table(es, y, robust=True)
    match = FashionReward(gclf, gc, gsd, use_eval_stats=False)
    evalr = FashionReward(eclf, ec, esd, use_eval_stats=True)

    # --- generative modules ---------------------------------------------------
    unet = C.PixelUNet()
    C.load_ckpt("ddpm", unet)
    vnet = C.LatentVelocityNet()
    C.load_ckpt("flow", vnet)
    enc, dec = C.AEEncoder(), C.AEDecoder()
    ae_extra = C.load_ckpt("autoencoder", nn.ModuleDict({"enc": enc, "dec": dec}))

    bundles = {
        "fashion-ddpm": {
            "manifest": {
                "name": "fashion-ddpm",
                "description": "Class-conditional pixel-space DDPM on Fashion-MNIST 28x28 (epsilon prediction, "
                               "linear betas 1e-4..0.02, 1000 steps). The generator sees only the class (or the "
                               "null prompt); brightness/size/texture words are only scored by the rewards.",
                "format": "TORCHSCRIPT", "model_kind": "DIFFUSION", "prediction": "EPSILON",
                "diffusion": {"beta_schedule": "LINEAR", "beta_start": 0.0001, "beta_end": 0.02,
                              "train_timesteps": 1000},
                "latent_shape": [1, 28, 28], "condition_dim": 16,
                "encoder": "encoder.pt", "denoiser": "denoiser.pt", "decoder": "decoder.pt",
                "rewards": rewards_desc(),
                "defaults": {"sampler": "DDIM", "steps": 50, "guidance_scale": 3.0, "eta": 1.0},
                "null_prompt": "",
            },
            "denoiser": Denoiser(unet),
            "decoder": PixelDecoder(),
        },
        "fashion-flow": {
            "manifest": {
                "name": "fashion-flow",
                "description": "Class-conditional latent rectified flow on Fashion-MNIST: velocity model on 4x7x7 "
                               "latents of a small conv autoencoder (latent scale baked into decoder.pt). "
                               "The generator sees only the class (or the null prompt); attribute words are "
                               "only scored by the rewards.",
                "format": "TORCHSCRIPT", "model_kind": "FLOW", "prediction": "VELOCITY",
                "flow": {"time_scale": 1000, "shift": 1.0},
                "latent_shape": [4, 7, 7], "condition_dim": 16,
                "encoder": "encoder.pt", "denoiser": "denoiser.pt", "decoder": "decoder.pt",
                "rewards": rewards_desc(),
                "defaults": FLOW_DEFAULTS,
                "null_prompt": "",
            },
            "denoiser": Denoiser(vnet),
            "decoder": LatentDecoder(enc, dec, float(ae_extra["shift"]), float(ae_extra["scale"])),
        },
    }
    for name, b in bundles.items():
        d = os.path.join(out_root, name)
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "rewards"))
        script_save(C.PromptEncoder(), os.path.join(d, "encoder.pt"))
        script_save(b["denoiser"], os.path.join(d, "denoiser.pt"))
        script_save(b["decoder"], os.path.join(d, "decoder.pt"))
        script_save(match, os.path.join(d, "rewards", "fashion_match.pt"))
        script_save(evalr, os.path.join(d, "rewards", "fashion_eval.pt"))
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(b["manifest"], f, indent=2)
            f.write("\n")
        total = 0
        for root, _, files in os.walk(d):
            for fn in files:
                total += os.path.getsize(os.path.join(root, fn))
        print(f"wrote {d}: {total / 1e6:.2f} MB")
    print("guidance stats center/spread (rows: classes 0..9, all):\n", gc, "\n", gsd)
    print("eval stats center/spread:\n", ec, "\n", esd)


FLOW_DEFAULTS = {"sampler": "DPMPP_SDE", "steps": 30, "guidance_scale": 3.0, "order": 2}

if __name__ == "__main__":
    C.setup_threads()
    main()
