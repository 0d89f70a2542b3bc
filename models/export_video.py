"""Export the fashion-video bundle (models/fashion-video) as TorchScript + manifest.json.

Needs the checkpoints of train_video_autoencoder.py, train_video_flow.py and train_frame_clf.py
(guidance, eval, content). The reward statistics tables are computed here from real clips of the
train split."""
import json
import os
import shutil

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

import common as C
import content_common as CC
import video_common as V
from export import class_table, script_save

# Sampler defaults (chosen with evaluate_video.py --sweep; see models/README.md).
SHIFT = 3.0
DEFAULTS = {"sampler": "DPMPP_SDE", "steps": 20, "guidance_scale": 3.0, "order": 2}
LOGP_MIN = -10.0
Z_CLIP = 3.0
DIR_SCALE = 0.5     # px/frame: the scale of the guidance reward's smooth direction term
TABLE_CLIPS = 5000


class VideoDenoiser(nn.Module):
    """forward(x [B,4,F,8,8], t [B] float, cond [B,18]) -> like x. Uses only cond[:, :15]."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.gen_cond = V.GEN_COND

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        c = cond[:, :self.gen_cond].to(device=x.device, dtype=x.dtype)
        return self.net(x, t.to(device=x.device, dtype=x.dtype), c)


class VideoDecoder(nn.Module):
    """Per-frame decoder: latents [B,4,F,8,8] -> pixels [B,1,F,32,32] =
    sigmoid(AE_decoder(z / scale + shift)) on every frame; encode() is the inverse map."""

    def __init__(self, enc: nn.Module, dec: nn.Module, shift: float, scale: float):
        super().__init__()
        self.enc = enc
        self.dec = dec
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, z: Tensor) -> Tensor:
        frames = V.frames_of(z / self.scale + self.shift)
        pix = torch.sigmoid(self.dec(frames)).clamp(0.0, 1.0)
        return V.clips_of(pix, z.shape[2])

    @torch.jit.export
    def encode(self, pixels: Tensor) -> Tensor:
        z = self.enc(V.frames_of(pixels.to(torch.float32)))
        return (V.clips_of(z, pixels.shape[2]) - self.shift) * self.scale


def class_rows(cond: Tensor) -> Tensor:
    """[B,11] weights over the rows of a per-class table: the prompted class, or row 10 (all
    classes) for the null prompt."""
    sel = cond[:, :11]
    missing = (1.0 - sel.sum(dim=1, keepdim=True)).clamp(0.0, 1.0)
    sel = torch.cat([sel[:, :10], sel[:, 10:11] + missing], dim=1)
    return sel / sel.sum(dim=1, keepdim=True)


class VideoMatchReward(nn.Module):
    """Guidance reward (smooth). score =
        mean_f max(log p_f(prompted class), -10)                          [class given]
      + 2 (tanh(along / 0.5) - tanh(across / 0.5))                        [direction given]
      + sum_{a in speed, brightness, fade} target_a * clip(z_a, -3, 3)   [attribute given]
      + clip(z_consistency, -3, 0)
    p_f from FrameGuidanceCNN on every frame; along/across: the centroid velocity (least-squares
    slope of the intensity-weighted centroid, px/frame) along and across the prompted direction;
    z = (stat - mean[class]) / std[class] over real train-split clips; consistency = mean cosine
    similarity of the classifier's features of consecutive frames."""

    def __init__(self, clf: nn.Module):
        super().__init__()
        self.clf = clf
        self.register_buffer("center", torch.zeros(11, 4))   # speed, brightness, fade, consistency
        self.register_buffer("spread", torch.ones(11, 4))
        self.register_buffer("dirs", torch.tensor(V.DIR_VEC, dtype=torch.float32))
        self.logp_min = LOGP_MIN
        self.z_clip = Z_CLIP
        self.dir_scale = DIR_SCALE
        self.canvas = float(V.CANVAS)

    def frame_outputs(self, x: Tensor):
        """-> (log-probabilities [B,F,10], features [B,F,64])."""
        B, Fr = x.shape[0], x.shape[2]
        feats = self.clf.features(V.frames_of(x))
        logp = F.log_softmax(self.clf.fc(feats), dim=1)
        return logp.view(B, Fr, 10), feats.view(B, Fr, -1)

    def consistency(self, feats: Tensor) -> Tensor:
        return F.cosine_similarity(feats[:, 1:], feats[:, :-1], dim=2, eps=1e-6).mean(dim=1)

    def stats_of(self, x: Tensor, feats: Tensor) -> Tensor:
        """[B,6]: velocity x, velocity y, speed, brightness, fade, consistency."""
        return torch.cat([V.match_stats(x), self.consistency(feats)[:, None]], dim=1)

    def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        cond = cond.to(device=x.device, dtype=torch.float32)
        logp, feats = self.frame_outputs(x)
        cls_term = (logp.clamp(min=self.logp_min) * cond[:, None, :10]).sum(dim=2).mean(dim=1)
        st = self.stats_of(x, feats)
        u = cond[:, 11:15] @ self.dirs                                         # [B,2]; 0 if unspecified
        has_dir = (cond[:, 11:15].sum(dim=1) > 0).to(x.dtype)
        along = st[:, 0] * u[:, 0] + st[:, 1] * u[:, 1]
        across = torch.sqrt((st[:, 0] * u[:, 1] - st[:, 1] * u[:, 0]) ** 2 + 1e-4)
        dir_term = has_dir * 2.0 * (torch.tanh(along / self.dir_scale) - torch.tanh(across / self.dir_scale))
        rows = class_rows(cond)
        z = (st[:, 2:] - rows @ self.center) / (rows @ self.spread)
        zc = z.clamp(-self.z_clip, self.z_clip)
        attr = cond[:, 16] * zc[:, 0] + cond[:, 15] * zc[:, 1] + cond[:, 17] * zc[:, 2]
        return cls_term + dir_term + attr + zc[:, 3].clamp(max=0.0)

    @torch.jit.export
    def features(self, pixels: Tensor) -> Tensor:
        """[B,80]: mean frame features of the classifier, then the centroid track / 32."""
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        _, feats = self.frame_outputs(x)
        track = V.match_track(x).flatten(1) / self.canvas
        return torch.cat([feats.mean(dim=1), track], dim=1)

    @torch.jit.export
    def attribute_stats(self, pixels: Tensor) -> Tensor:
        """Raw [B,6]: velocity x, velocity y, speed, brightness, fade, consistency."""
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        _, feats = self.frame_outputs(x)
        return self.stats_of(x, feats)


class VideoEvalReward(nn.Module):
    """Unseen evaluator (hard thresholds, nothing shared with video-match). score =
        max(log mean_f p_f(prompted class), -10)                          [class given]
      + (+1 if the bounding-box motion goes the prompted way, else -1)   [direction given]
      + sum_{a in speed, brightness, fade} target_a * clip(z_a, -3, 3)   [attribute given]
      - clip(z_box_instability, 0, 3)
    p_f from FrameEvalCNN; the motion is the displacement per frame of the bounding-box centre
    (boxes thresholded at a quarter of each frame's peak; last three frames against the first
    three); it goes the
    prompted way when its component along the direction is > 0.25 px/frame and larger than the
    one across; z = (stat - median[class]) / (IQR[class] / 1.349) over real train-split clips."""

    def __init__(self, clf: nn.Module):
        super().__init__()
        self.clf = clf
        self.register_buffer("center", torch.zeros(11, 4))   # speed, peak brightness, fade, box instability
        self.register_buffer("spread", torch.ones(11, 4))
        self.register_buffer("dirs", torch.tensor(V.DIR_VEC, dtype=torch.float32))
        self.logp_min = LOGP_MIN
        self.z_clip = Z_CLIP
        self.canvas = float(V.CANVAS)

    def frame_outputs(self, x: Tensor):
        """-> (probabilities [B,F,10], features [B,F,96])."""
        B, Fr = x.shape[0], x.shape[2]
        feats = self.clf.features(V.frames_of(x))
        p = F.softmax(self.clf.fc2(feats), dim=1)
        return p.view(B, Fr, 10), feats.view(B, Fr, -1)

    def forward(self, pixels: Tensor, cond: Tensor) -> Tensor:
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        cond = cond.to(device=x.device, dtype=torch.float32)
        p, _ = self.frame_outputs(x)
        pc = (p.mean(dim=1) * cond[:, :10]).sum(dim=1)
        has_cls = cond[:, :10].sum(dim=1)
        cls_term = has_cls * torch.log(pc + 1e-30).clamp(min=self.logp_min)
        st = V.eval_stats(x)
        u = cond[:, 11:15] @ self.dirs
        has_dir = (cond[:, 11:15].sum(dim=1) > 0).to(x.dtype)
        along = st[:, 0] * u[:, 0] + st[:, 1] * u[:, 1]
        across = (st[:, 0] * u[:, 1] - st[:, 1] * u[:, 0]).abs()
        right_way = (along > 0.25) & (along > across)
        dir_term = has_dir * (2.0 * right_way.to(x.dtype) - 1.0)
        rows = class_rows(cond)
        z = ((st[:, 2:] - rows @ self.center) / (rows @ self.spread)).clamp(-self.z_clip, self.z_clip)
        attr = cond[:, 16] * z[:, 0] + cond[:, 15] * z[:, 1] + cond[:, 17] * z[:, 2]
        return cls_term + dir_term + attr - z[:, 3].clamp(min=0.0)

    @torch.jit.export
    def features(self, pixels: Tensor) -> Tensor:
        """[B,112]: mean frame features of the classifier, then the box-centre track / 32."""
        x = pixels.to(torch.float32).clamp(0.0, 1.0)
        _, feats = self.frame_outputs(x)
        track = V.eval_boxes(x)[:, :, :2].flatten(1) / self.canvas
        return torch.cat([feats.mean(dim=1), track], dim=1)

    @torch.jit.export
    def attribute_stats(self, pixels: Tensor) -> Tensor:
        """Raw [B,6]: displacement x, y, speed, peak brightness, fade, box instability."""
        return V.eval_stats(pixels.to(torch.float32).clamp(0.0, 1.0))

    @torch.jit.export
    def class_probs(self, pixels: Tensor) -> Tensor:
        """[B,10]: the classifier's probabilities averaged over the frames."""
        p, _ = self.frame_outputs(pixels.to(torch.float32).clamp(0.0, 1.0))
        return p.mean(dim=1)


def rewards_desc():
    return [
        {"name": "video-match", "file": "rewards/video_match.pt", "guidance": True,
         "description": "Guidance reward: how well the clip matches the whole prompt (smooth). Mean over frames of "
                        "log p(prompted class) from a 3x3-conv frame CNN (clamped at -10; omitted for the null prompt) "
                        "+ direction: 2 (tanh(along/0.5) - tanh(across/0.5)) of the least-squares velocity of the "
                        "intensity-weighted centroid (px/frame) + target * z-score (clipped to +-3) of speed, "
                        "brightness (mean soft-foreground intensity) and fade (slope of log total intensity) "
                        "+ min(0, z-score of the cosine similarity of consecutive frames' classifier features). "
                        "z-scores against the train split's per-class mean/std of real clips. Higher is better."},
        {"name": "video-eval", "file": "rewards/video_eval.pt", "guidance": False,
         "description": "Held-out evaluator, never used for guidance, sharing no definitions with video-match: "
                        "log of the frame-averaged p(prompted class) from an independently trained 5x5-conv CNN "
                        "with an FC head (clamped at -10) + 1/-1 whether the bounding-box displacement "
                        "goes the prompted way + target * robust z-score (median / IQR, clipped to +-3) of its "
                        "speed, the 90th-percentile foreground brightness and the last/first two frames' "
                        "intensity ratio - clip(z-score of the box-area variation, 0, 3). Higher is better."},
        {"name": "video-content", "file": "rewards/video_content.pt", "guidance": False,
         "description": "Content only: mean over frames of log p(prompted class) (clamped at -10; 0 for the null "
                        "prompt) from a third classifier (strided convs with BatchNorm, trained on the t10k split, "
                        "which the other classifiers never saw). Ignores motion and attributes."},
    ]


@torch.no_grad()
def batched(fn, x: Tensor, bs: int = 500) -> Tensor:
    return torch.cat([fn(x[i:i + bs]) for i in range(0, x.shape[0], bs)])


def main():
    torch.manual_seed(0)
    items, labels = V.load_items("train")
    real = V.make_clips(items, labels, TABLE_CLIPS, torch.Generator().manual_seed(7))
    clips, y = real["clips"], real["labels"]

    gclf, eclf, cclf = V.FrameGuidanceCNN(), V.FrameEvalCNN(), CC.ContentCNN()
    C.load_ckpt("video_guidance_clf", gclf)
    C.load_ckpt("video_eval_clf", eclf)
    C.load_ckpt("video_content_clf", cclf)
    match, evalr = VideoMatchReward(gclf).eval(), VideoEvalReward(eclf).eval()
    ms = batched(match.attribute_stats, clips)
    es = batched(evalr.attribute_stats, clips)
    mc, msd = class_table(ms[:, 2:], y, robust=False)
    ec, esd = class_table(es[:, 2:], y, robust=True)
    match.center.copy_(mc)
    match.spread.copy_(msd)
    evalr.center.copy_(ec)
    evalr.spread.copy_(esd)
    content = CC.ContentReward(cclf)

    vnet = V.VideoVelocityNet()
    C.load_ckpt("video_flow", vnet)
    enc, dec = V.FrameEncoder(), V.FrameDecoder()
    ae = C.load_ckpt("video_autoencoder", nn.ModuleDict({"enc": enc, "dec": dec}))

    manifest = {
        "name": "fashion-video",
        "description": "Text-conditioned latent rectified-flow video model on moving Fashion-MNIST items: 8 frames "
                       "of 32x32, a velocity net of factorised (2+1)D convolutions over [4,8,8,8] latents of a "
                       "per-frame autoencoder (latent scale baked into decoder.pt). The generator sees the class and "
                       "the direction (left/right/up/down); speed, brightness and fading are only scored by the "
                       "rewards.",
        "format": "TORCHSCRIPT", "model_kind": "FLOW", "prediction": "VELOCITY",
        "flow": {"time_scale": 1000, "shift": SHIFT},
        "latent_shape": V.LATENT, "condition_dim": V.VCOND_DIM,
        "encoder": "encoder.pt", "denoiser": "denoiser.pt", "decoder": "decoder.pt",
        "rewards": rewards_desc(),
        "defaults": DEFAULTS,
        "null_prompt": "",
    }
    d = os.path.join(C.HERE, "fashion-video")
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "rewards"))
    script_save(V.VideoPromptEncoder(), os.path.join(d, "encoder.pt"))
    script_save(VideoDenoiser(vnet), os.path.join(d, "denoiser.pt"))
    script_save(VideoDecoder(enc, dec, float(ae["shift"]), float(ae["scale"])), os.path.join(d, "decoder.pt"))
    script_save(match, os.path.join(d, "rewards", "video_match.pt"))
    script_save(evalr, os.path.join(d, "rewards", "video_eval.pt"))
    script_save(content, os.path.join(d, "rewards", "video_content.pt"))
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(d) for fn in fs)
    print(f"wrote {d}: {total / 1e6:.2f} MB")
    print("video-match center/spread (speed, brightness, fade, consistency; rows: classes 0..9, all):\n", mc, "\n", msd)
    print("video-eval center/spread (speed, peak brightness, fade, box instability):\n", ec, "\n", esd)


if __name__ == "__main__":
    C.setup_threads()
    main()
