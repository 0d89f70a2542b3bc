"""Frame classifiers of the fashion-video bundle, trained on single 32x32 canvas frames (a 16 px
item anywhere on the canvas, log-uniform gain 0.08..1, fresh frames every iteration):

  --which guidance  FrameGuidanceCNN on the train split, seed 41    (video-match)
  --which eval      FrameEvalCNN     on the train split, seed 2025  (video-eval)
  --which content   ContentCNN       on the t10k split, seed 777    (video-content)

Held-out accuracy: one frame per item of the split the net did not train on (t10k for the first
two, the 60k train split for content), positions and gains from a fixed seed."""
import argparse
import time

import torch
import torch.nn.functional as F

import common as C
import content_common as CC
import video_common as V

WHICH = {
    # name: (checkpoint, net, training split, seed, lr, label smoothing)
    "guidance": ("video_guidance_clf", V.FrameGuidanceCNN, "train", 41, 2e-3, 0.05),
    "eval": ("video_eval_clf", V.FrameEvalCNN, "train", 2025, 1.5e-3, 0.0),
    "content": ("video_content_clf", CC.ContentCNN, "test", 777, 2e-3, 0.0),
}


def fit(name: str, model, sample, held_x, held_y, args, dev, label_smoothing: float):
    """AdamW (weight decay 1e-4), warm-up + cosine LR; sample(n) -> (x, y) is a fresh training
    batch. Reports the accuracy on (held_x, held_y) and writes checkpoints/<name>.npz."""
    model = model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    t0, c0 = time.time(), V.cpu_seconds()
    it = 0
    total = args.iters
    for it in range(args.iters):
        total = C.budget_total(it, t0, args, total)
        if it >= total:
            it -= 1
            break
        model.train()
        xb, yb = sample(args.batch)
        loss = F.cross_entropy(model(xb.to(dev)), yb.to(dev), label_smoothing=label_smoothing)
        C.set_lr(opt, C.lr_at(it, total, args.lr))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 250 == 0:
            print(f"[{name}] it {it} loss {loss.item():.4f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el, cpu = time.time() - t0, V.cpu_seconds() - c0
    acc = C.accuracy(model, held_x, held_y, dev)
    print(f"[{name}] done {done} iters batch {args.batch} in {el:.1f}s ({cpu:.0f} CPU s) on {dev}; "
          f"held-out accuracy {acc:.4f} ({held_x.shape[0]} images); params {C.nparams(model)}", flush=True)
    model.cpu()
    C.save_ckpt(name, model, {"iters": done, "batch": args.batch, "seconds": el, "cpu_seconds": cpu, "heldout_acc": acc,
                              "device_cuda": float(dev.type == "cuda")})


def heldout_frames(split: str):
    """One canvas frame per item of split, from a fixed seed."""
    items, labels = V.load_items(split)
    g = torch.Generator().manual_seed(99)
    pos = torch.rand(items.shape[0], 2, generator=g) * (V.CANVAS - V.ITEM)
    lo, hi = V.FRAME_GAIN_RANGE
    gain = lo * (hi / lo) ** torch.rand(items.shape[0], generator=g)
    return V.render(items, pos[:, 0], pos[:, 1], gain), labels


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="train a video frame classifier")
    ap.add_argument("--which", choices=sorted(WHICH), required=True)
    ap.add_argument("--iters", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-seconds", type=float, default=1e9)
    args = ap.parse_args()
    ckpt, net, split, seed, lr, smoothing = WHICH[args.which]
    args.lr = args.lr if args.lr is not None else lr
    args.seed = args.seed if args.seed is not None else seed
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    items, labels = V.load_items(split)
    gen = torch.Generator().manual_seed(args.seed)
    held_x, held_y = heldout_frames("train" if split == "test" else "test")
    print(f"[{ckpt}] training on the {split} split ({items.shape[0]} items), seed {args.seed}", flush=True)
    fit(ckpt, net(), lambda n: V.make_frames(items, labels, n, gen), held_x, held_y, args, dev, smoothing)
