"""Measure the fashion-video bundle (loading the exported files): held-out accuracy of its three
classifiers, how well each reward's motion and attribute statistics recover the truth of real
held-out clips, generated clips (which class and direction the evaluator and the content
classifier see), attribute statistics generated vs real, a best-of-10 search sanity check and the
sample grid `samples-fashion-video.png` (one row per clip, frames left to right).

The sampler is a python copy of the product's SDE-DPM-Solver++ (worker/samplers.cc: time shift,
second order except on the first and last steps, CFG on the x0 prediction).

Usage: /usr/bin/python3 models/evaluate_video.py [--per-prompt 10] [--sweep] [--out DIR]"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch

import common as C
import video_common as V
from evaluate import Bundle, write_png
from train_frame_clf import heldout_frames

DIR_NAMES = V.DIRECTIONS
BEST_OF_WORDS = [("dark", "a dark {c} moving {d}"), ("bright", "a bright {c} moving {d}"),
                 ("slow", "a {c} moving {d} slowly"), ("fast", "a {c} moving {d} quickly"),
                 ("fading", "a {c} moving {d} while fading"), ("fading in", "a {c} moving {d}, fading in")]


def flow_schedule(steps: int, shift: float):
    """sigma_i = shift*b/(1+(shift-1)*b), b = 1 - i/steps; alpha = 1 - sigma."""
    sig = []
    for i in range(steps + 1):
        b = 1.0 - i / steps
        sig.append(shift * b / (1.0 + (shift - 1.0) * b))
    return sig, [1.0 - s for s in sig]


@torch.no_grad()
def sample(b: Bundle, prompts, steps: int, g: float, shift: float, order: int, gen) -> torch.Tensor:
    """Clips [B,1,F,32,32] for prompts with SDE-DPM-Solver++ (as worker/samplers.cc)."""
    dev = b.dev
    B = len(prompts)
    cond = b.encoder(prompts).to(dev)
    ucond = b.encoder([b.m["null_prompt"]]).to(dev).expand(B, -1)
    sig, alp = flow_schedule(steps, shift)
    scale = float(b.m["flow"]["time_scale"])
    x = torch.randn([B] + b.m["latent_shape"], generator=gen).to(dev)
    lam = lambda i: math.log(alp[i] / sig[i])
    prev_x0 = None
    for i in range(steps):
        t = torch.full((2 * B,), sig[i] * scale, device=dev)
        v = b.denoiser(torch.cat([x, x]), t, torch.cat([cond, ucond]))
        x0c, x0u = x - sig[i] * v[:B], x - sig[i] * v[B:]
        x0 = x0u + g * (x0c - x0u)
        denom = alp[i + 1] * sig[i]
        e = sig[i + 1] * alp[i] / denom if denom > 0 else 0.0
        keep = sig[i + 1] / sig[i] * e if sig[i] > 0 else 0.0
        data = alp[i + 1] * (1.0 - e * e)
        std = sig[i + 1] * math.sqrt(max(0.0, 1.0 - e * e))
        out = keep * x + data * x0
        if order == 2 and prev_x0 is not None and alp[i - 1] > 0 and sig[i + 1] > 0:
            h, h_prev = lam(i + 1) - lam(i), lam(i) - lam(i - 1)
            out = out + 0.5 * data * (h / h_prev) * (x0 - prev_x0)
        x = out + std * torch.randn(x.shape, generator=gen).to(dev) if std > 0 else out
        prev_x0 = x0
    return b.decoder(x)


def generate(b: Bundle, prompts, settings, gen, bs: int = 50) -> torch.Tensor:
    return torch.cat([sample(b, prompts[i:i + bs], settings["steps"], settings["guidance_scale"],
                             settings["shift"], settings.get("order", 2), gen)
                      for i in range(0, len(prompts), bs)])


@torch.no_grad()
def batched(fn, x, bs: int = 250):
    return torch.cat([fn(x[i:i + bs]) for i in range(0, x.shape[0], bs)])


@torch.no_grad()
def clip_class(clf, clips) -> torch.Tensor:
    """argmax of the mean over frames of a frame classifier's log-probabilities."""
    logp = torch.log_softmax(clf(V.frames_of(clips)), dim=1).view(clips.shape[0], clips.shape[2], 10)
    return logp.mean(dim=1).argmax(dim=1)


def direction_of(disp: torch.Tensor) -> torch.Tensor:
    """[B,2] displacement -> direction index whose axis and sign it follows (> 0.25 px/frame along
    and more along than across), or -1."""
    dirs = torch.tensor(V.DIR_VEC)
    along = disp @ dirs.T                                                   # [B,4]
    across = (disp[:, None, 0] * dirs[None, :, 1] - disp[:, None, 1] * dirs[None, :, 0]).abs()
    best = along.argmax(dim=1)
    ok = (along.gather(1, best[:, None])[:, 0] > 0.25) & (along.gather(1, best[:, None])[:, 0] >
                                                          across.gather(1, best[:, None])[:, 0])
    return torch.where(ok, best, torch.full_like(best, -1))


def corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.numpy(), b.numpy())[0, 1])


def describe(match, evalr, content, clips, labels, directions) -> dict:
    """Class and direction agreement of every reward's own estimate with the given truth."""
    out = {
        "match class": (batched(lambda x: clip_class(match.clf, x), clips) == labels).float().mean().item(),
        "eval class": (batched(evalr.class_probs, clips).argmax(1) == labels).float().mean().item(),
        "content class": (batched(lambda x: clip_class(content.clf, x), clips) == labels).float().mean().item(),
    }
    ms, es = batched(match.attribute_stats, clips), batched(evalr.attribute_stats, clips)
    out["match direction"] = (direction_of(ms[:, :2]) == directions).float().mean().item()
    out["eval direction"] = (direction_of(es[:, :2]) == directions).float().mean().item()
    return out


def stats_table(ms, es):
    names_m = ["speed", "brightness", "fade", "consistency"]
    names_e = ["speed", "peak brightness", "fade", "box instability"]
    rows = {}
    for j, n in enumerate(names_m):
        rows["match " + n] = (ms[:, 2 + j].mean().item(), ms[:, 2 + j].std().item())
    for j, n in enumerate(names_e):
        rows["eval " + n] = (es[:, 2 + j].mean().item(), es[:, 2 + j].std().item())
    return rows


def frames_grid(clips: torch.Tensor, scale: int = 3) -> np.ndarray:
    """clips [N,1,F,32,32] -> uint8 image, one row per clip, frames left to right, 2 px gaps."""
    p = (clips.clamp(0, 1).cpu().numpy()[:, 0] * 255).astype(np.uint8)
    n, fr, h, w = p.shape
    out = np.full((n * (h + 2) + 2, fr * (w + 2) + 2), 128, np.uint8)
    for r in range(n):
        for f in range(fr):
            out[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + f * (w + 2):2 + f * (w + 2) + w] = p[r, f]
    return np.kron(out, np.ones((scale, scale), np.uint8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-prompt", type=int, default=10, help="clips per (class, direction) prompt")
    ap.add_argument("--sweep", action="store_true", help="also try other shifts / steps / guidance (4 per prompt)")
    ap.add_argument("--out", default=C.HERE, help="where to write the sample grid and results json")
    args = ap.parse_args()
    C.setup_threads()
    dev = C.pick_device()
    torch.manual_seed(0)
    print(f"device {dev}, torch {torch.__version__}")
    b = Bundle(os.path.join(C.HERE, "fashion-video"), dev)
    match, evalr, content = b.rewards["video-match"], b.rewards["video-eval"], b.rewards["video-content"]
    res = {"device": str(dev), "torch": torch.__version__}

    # --- classifiers on held-out frames and clips ----------------------------------------------
    for name, clf, split in [("match", match.clf, "test"), ("eval", evalr.clf, "test"),
                             ("content", content.clf, "train")]:
        fx, fy = heldout_frames(split)
        acc = C.accuracy(clf, fx, fy, dev)
        print(f"{name} frame classifier: accuracy on {fx.shape[0]} held-out {split}-split frames {acc:.4f}")
        res[f"{name} frame acc"] = acc
    ti, tl = V.load_items("test")
    real = V.make_clips(ti, tl, 1000, torch.Generator().manual_seed(8))
    ri, rl = V.load_items("train")
    real_tr = V.make_clips(ri, rl, 1000, torch.Generator().manual_seed(9))
    d_real = describe(match, evalr, content, real["clips"], real["labels"], real["direction"])
    d_real["content class"] = describe(match, evalr, content, real_tr["clips"], real_tr["labels"],
                                       real_tr["direction"])["content class"]
    print("real held-out clips (1000; content: train-split clips): " +
          ", ".join(f"{k} {v:.3f}" for k, v in d_real.items()))
    res["real clips"] = d_real
    ms, es = batched(match.attribute_stats, real["clips"]), batched(evalr.attribute_stats, real["clips"])
    truth = {
        "speed vs match speed": corr(real["speed"], ms[:, 2]),
        "speed vs eval speed": corr(real["speed"], es[:, 2]),
        "base gain vs match brightness": corr(real["base"], ms[:, 3]),
        "base gain vs eval brightness": corr(real["base"], es[:, 3]),
        "fade vs match fade": corr(real["fade"], ms[:, 4]),
        "fade vs eval fade": corr(real["fade"], es[:, 4]),
    }
    print("correlation with the ground truth on real t10k clips: " + ", ".join(f"{k} {v:.3f}" for k, v in truth.items()))
    res["truth correlation"] = truth
    real_stats = stats_table(ms, es)

    # --- generated clips ------------------------------------------------------------------------
    prompts, labs, dirs = [], [], []
    for c in range(10):
        for d in (c % 4, (c + 2) % 4):
            for _ in range(args.per_prompt):
                prompts.append(f"a {C.CLASS_PROMPT[c]} moving {DIR_NAMES[d]}")
                labs.append(c)
                dirs.append(d)
    labs, dirs = torch.tensor(labs), torch.tensor(dirs)
    base = dict(b.m["defaults"], shift=b.m["flow"]["shift"])
    configs = [("default", base)]
    if args.sweep:
        configs += [(f"shift {s}", dict(base, shift=s)) for s in [1.0, 3.0, 5.0] if s != base["shift"]]
        configs += [("steps 30", dict(base, steps=30)), ("guidance 2", dict(base, guidance_scale=2.0)),
                    ("guidance 5", dict(base, guidance_scale=5.0))]
    for cname, st in configs:
        n = args.per_prompt if cname == "default" else min(args.per_prompt, 4)
        keep = torch.tensor([i for i in range(len(prompts)) if i % args.per_prompt < n])
        pr = [prompts[i] for i in keep.tolist()]
        gen = torch.Generator().manual_seed(1234)
        t0 = time.time()
        pix = generate(b, pr, st, gen)
        el = time.time() - t0
        assert torch.isfinite(pix).all()
        dg = describe(match, evalr, content, pix, labs[keep], dirs[keep])
        cond = b.encoder(pr)
        scores = {k: r(pix, cond).mean().item() for k, r in b.rewards.items()}
        key = f"{cname}: {json.dumps(st)}"
        print(f"\n[{key}] {len(pr)} clips in {el:.1f}s ({el / len(pr):.2f} s/clip)")
        print("  agreement with the prompt: " + ", ".join(f"{k} {v:.3f}" for k, v in dg.items()))
        print("  mean rewards: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        res[key] = {"agreement": dg, "mean rewards": scores, "seconds per clip": el / len(pr)}
        if cname != "default":
            continue
        per_class = [(batched(evalr.class_probs, pix[labs == c]).argmax(1) == c).float().mean().item()
                     for c in range(10)]
        print("  evaluator per class: " + ", ".join(f"{C.CLASS_NAMES[c]} {per_class[c]:.2f}" for c in range(10)))
        res[key]["eval per class"] = per_class
        first = torch.tensor([2 * c * args.per_prompt for c in range(10)])
        write_png(os.path.join(args.out, "samples-fashion-video.png"), frames_grid(pix[first]))
        gms, ges = batched(match.attribute_stats, pix), batched(evalr.attribute_stats, pix)
        gen_stats = stats_table(gms, ges)
        print("  attribute stats (mean +- std)     generated          real t10k clips")
        for k in gen_stats:
            print(f"    {k:22s} {gen_stats[k][0]:7.3f} +- {gen_stats[k][1]:.3f}   "
                  f"{real_stats[k][0]:7.3f} +- {real_stats[k][1]:.3f}")
        res[key]["stats generated"], res[key]["stats real"] = gen_stats, real_stats
        # Best-of-10: the generator ignores speed, brightness and fading, so the clips of
        # "<class> moving <dir>" are also samples for "<attribute> <class> moving <dir>"; pick the
        # best of each group by video-match and score it with video-eval and video-content.
        G = args.per_prompt
        print(f"  best-of-{G} by video-match (mean over {len(pr) // G} groups): random -> picked")
        for word, tmpl in BEST_OF_WORDS:
            wp = [tmpl.format(c=C.CLASS_PROMPT[int(c)], d=DIR_NAMES[int(d)]) for c, d in zip(labs, dirs)]
            wc = b.encoder(wp)
            sc = {k: r(pix, wc).view(-1, G) for k, r in b.rewards.items()}
            pick = sc["video-match"].argmax(dim=1, keepdim=True)
            row = {k: (v.mean().item(), v.gather(1, pick).mean().item()) for k, v in sc.items()}
            print(f"    {word:10s} " + "  ".join(f"{k} {a:.3f} -> {p:.3f}" for k, (a, p) in row.items()))
            res[key][f"best-of-{G} {word}"] = row
    with open(os.path.join(args.out, "eval_video_results.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
