"""Measure the image bundles' `fashion-content` metric (loading the exported files): its
classifier's accuracy on the 60k train split (held out for it: it trained on t10k) and agreement
with the two other classifiers there; on generated samples (manifest defaults), the fraction it
assigns to the prompted class; and whether picking the best of 10 by the guidance reward for an
attribute prompt changes the content score.

Usage: /usr/bin/python3 models/evaluate_content.py [--n-per-class 30] [--out DIR]"""
import argparse
import json
import os

import torch

import common as C
from evaluate import Bundle, batched, generate, predict

WORDS = ["dark", "bright", "small", "large", "plain", "patterned"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=30)
    ap.add_argument("--out", default=C.HERE, help="where to write eval_content_results.json")
    args = ap.parse_args()
    C.setup_threads()
    dev = C.pick_device()
    torch.manual_seed(0)
    res = {"device": str(dev), "torch": torch.__version__}
    x, y = C.load_fashion("train")
    x, y = x.to(dev), y.to(dev)
    b0 = Bundle(os.path.join(C.HERE, "fashion-ddpm"), dev)
    preds = {name: batched(lambda v: predict(r, v, dev), x) for name, r in b0.rewards.items()}
    acc = (preds["fashion-content"] == y).float().mean().item()
    print(f"fashion-content classifier: accuracy on the 60k train split (held out for it) {acc:.4f}")
    res["content train-split acc"] = acc
    for other in ["fashion-match", "fashion-eval"]:
        a = (preds[other] == preds["fashion-content"]).float().mean().item()
        print(f"  agrees with {other}'s classifier on {a:.4f} of the train split")
        res[f"agreement with {other}"] = a

    n = args.n_per_class
    labels = [c for c in range(10) for _ in range(n)]
    lab = torch.tensor(labels, device=dev)
    for bname in ["fashion-ddpm", "fashion-flow"]:
        b = Bundle(os.path.join(C.HERE, bname), dev)
        pix = generate(b, labels, b.m["defaults"], torch.Generator().manual_seed(4321))
        r = {name: (predict(m, pix, dev) == lab).float().mean().item() for name, m in b.rewards.items()}
        print(f"\n{bname} ({len(labels)} samples, defaults): fraction assigned to the prompted class: " +
              ", ".join(f"{k} {v:.3f}" for k, v in r.items()))
        res[bname] = {"class agreement": r}
        print(f"  best-of-10 by fashion-match (mean over {len(labels) // 10} groups): random -> picked")
        for word in WORDS:
            cond = b.encoder([f"{word} {C.CLASS_PROMPT[c]}" for c in labels])
            sc = {k: m(pix, cond).view(-1, 10) for k, m in b.rewards.items()}
            pick = sc["fashion-match"].argmax(dim=1, keepdim=True)
            row = {k: (v.mean().item(), v.gather(1, pick).mean().item()) for k, v in sc.items()}
            print(f"    {word:10s} " + "  ".join(f"{k} {a:.3f} -> {p:.3f}" for k, (a, p) in row.items()))
            res[bname][f"best-of-10 {word}"] = row
    with open(os.path.join(args.out, "eval_content_results.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
