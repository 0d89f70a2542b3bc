"""Measure the exported bundles: classifier accuracy on held-out t10k, evaluator agreement of
generated samples per class, attribute statistics, a best-of-N search sanity check, sample grids.

Usage: /usr/bin/python3 models/evaluate.py [--n-per-class 100] [--sweep] [--out DIR] [--through build/evosearch]
Runs on CUDA when available (EVO_DEVICE=cpu to force CPU)."""
import argparse
import json
import math
import os
import struct
import time
import zlib

import numpy as np
import torch

import common as C


def write_png(path: str, img: np.ndarray):
    """img uint8 [H,W] grayscale."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[i].tobytes() for i in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def grid(pix: torch.Tensor, rows: int, cols: int, scale: int = 2) -> np.ndarray:
    """pix [rows*cols,1,28,28] in [0,1] -> uint8 image with 2px separators."""
    p = (pix.clamp(0, 1).cpu().numpy()[:, 0] * 255).astype(np.uint8)
    H = rows * 30 + 2
    W = cols * 30 + 2
    out = np.full((H, W), 128, np.uint8)
    for r in range(rows):
        for c in range(cols):
            out[2 + r * 30:2 + r * 30 + 28, 2 + c * 30:2 + c * 30 + 28] = p[r * cols + c]
    return np.kron(out, np.ones((scale, scale), np.uint8))


class Bundle:
    def __init__(self, folder: str, dev):
        self.folder = folder
        self.m = json.load(open(os.path.join(folder, "manifest.json")))
        ld = lambda f: torch.jit.load(os.path.join(folder, f), map_location=dev).eval()
        self.encoder = ld(self.m["encoder"])
        self.denoiser = ld(self.m["denoiser"])
        self.decoder = ld(self.m["decoder"])
        self.rewards = {r["name"]: ld(r["file"]) for r in self.m["rewards"]}
        self.dev = dev


@torch.no_grad()
def cfg_model(b: Bundle, x, t, cond, ucond, g):
    B = x.shape[0]
    out = b.denoiser(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, ucond]))
    c, u = out[:B], out[B:]
    return u + g * (c - u)


@torch.no_grad()
def sample_ddim(b: Bundle, cond, ucond, steps: int, g: float, eta: float, gen):
    dev = b.dev
    abar = C.ddpm_alphas_cumprod().to(dev)
    # The product's sampler (worker/schedule.cc, worker/samplers.cc): trailing timestep spacing
    # (step i at round(N - i N / steps) - 1, the last step lands on the clean sample) and no x0 clamp.
    n_train = abar.shape[0]
    ts = np.array([math.floor(n_train - i * n_train / steps + 0.5) - 1 for i in range(steps)], dtype=np.int64)
    B = cond.shape[0]
    x = torch.randn(B, 1, 28, 28, generator=gen, device="cpu").to(dev)
    for i, t in enumerate(ts):
        a_t = abar[t]
        a_p = abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, device=dev)
        tt = torch.full((B,), float(t), device=dev)
        eps = cfg_model(b, x, tt, cond, ucond, g)
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        sig = eta * ((1 - a_p) / (1 - a_t)).sqrt() * (1 - a_t / a_p).sqrt()
        x = a_p.sqrt() * x0 + (1 - a_p - sig ** 2).clamp(min=0).sqrt() * eps
        if i + 1 < len(ts):
            x = x + sig * torch.randn(x.shape, generator=gen).to(dev)
    return b.decoder(x)


@torch.no_grad()
def sample_flow(b: Bundle, cond, ucond, steps: int, g: float, sampler: str, order: int, gen):
    dev = b.dev
    shape = b.m["latent_shape"]
    B = cond.shape[0]
    scale = float(b.m["flow"]["time_scale"])
    sig = torch.linspace(1.0, 0.0, steps + 1).tolist()
    x = torch.randn([B] + shape, generator=gen).to(dev)
    old_d, h_last = None, None
    for i in range(steps):
        s, t = sig[i], sig[i + 1]
        v = cfg_model(b, x, torch.full((B,), s * scale, device=dev), cond, ucond, g)
        if sampler == "EULER":
            x = x + (t - s) * v
            continue
        d = x - s * v                       # predicted clean latent
        if t <= 0.0:
            x = d
            break
        a_s, a_t = 1.0 - s, 1.0 - t
        lam_t = math.log(a_t / t)
        lam_s = math.log(a_s / s) if a_s > 0 else -math.inf
        h = lam_t - lam_s
        e = (t / a_t) * (a_s / s)           # exp(-h)
        k = 1.0 - e * e
        xn = (t / s) * e * x + a_t * k * d
        # Second order (multistep midpoint) wherever the previous step had a finite lambda, as the product.
        if order == 2 and old_d is not None and math.isfinite(h_last):
            r = h_last / h
            xn = xn + 0.5 * a_t * k * (d - old_d) / r
        x = xn + t * math.sqrt(k) * torch.randn(x.shape, generator=gen).to(dev)
        old_d, h_last = d, h
    return b.decoder(x)


def generate(b: Bundle, labels, settings, gen, bs=500):
    out = []
    ucond = b.encoder([b.m["null_prompt"]])
    for i in range(0, len(labels), bs):
        lab = labels[i:i + bs]
        cond = b.encoder([C.CLASS_PROMPT[c] for c in lab])
        uc = ucond.expand(len(lab), -1)
        if b.m["model_kind"] == "DIFFUSION":
            out.append(sample_ddim(b, cond, uc, settings["steps"], settings["guidance_scale"],
                                   settings.get("eta", 1.0), gen))
        else:
            out.append(sample_flow(b, cond, uc, settings["steps"], settings["guidance_scale"],
                                   settings["sampler"], settings.get("order", 2), gen))
    return torch.cat(out)


def read_png(path: str) -> np.ndarray:
    """8-bit grey or RGB, non-interlaced PNG (what the product writes) -> uint8 [H, W, C]."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (0, 2) and interlace == 0, f"{path}: unsupported PNG"
            ch = 1 if color == 0 else 3
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * ch)
    out = np.zeros((h, w * ch), np.int32)
    prev = np.zeros(w * ch, np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            row = line
        elif f == 2:
            row = (line + prev) & 255
        else:  # Sub, Average, Paeth depend on the pixel to the left: one pixel at a time
            row = np.zeros_like(line)
            for x in range(w * ch):
                a = row[x - ch] if x >= ch else 0
                c = prev[x - ch] if x >= ch else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + prev[x]) // 2
                else:
                    p = a + prev[x] - c
                    pa, pb, pc = abs(p - a), abs(p - prev[x]), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (prev[x] if pb <= pc else c)
                row[x] = (line[x] + pred) & 255
        out[y], prev = row, row
    return out.reshape(h, w, ch).astype(np.uint8)


def generate_through(binary: str, bundle_dir: str, n: int, seed: int, tmp: str):
    """Samples drawn by the product itself: `evosearch sample` per class prompt, 10 columns, scale
    1, padding 2 (media/image_io.cc make_grid), cut back out of the grid PNG -> float [10 n, 1, H, W]."""
    import subprocess
    tiles = []
    for c in range(10):
        path = os.path.join(tmp, f"class-{c}.png")
        cmd = [binary, "sample", "--bundle", bundle_dir, "--prompt", C.CLASS_PROMPT[c], "-n", str(n),
               "--batch", str(min(n, 100)), "--seed", str(seed), "--columns", "10", "--scale", "1",
               "--out", path, "--log-level", "warn"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        img = read_png(path)[:, :, 0].astype(np.float32) / 255.0
        s = 28
        for j in range(n):
            y0, x0 = 2 + (j // 10) * (s + 2), 2 + (j % 10) * (s + 2)
            tiles.append(img[y0:y0 + s, x0:x0 + s])
    return torch.from_numpy(np.stack(tiles)).unsqueeze(1)


@torch.no_grad()
def predict(reward, pix, dev):
    """argmax_c reward(pix, onehot c) == argmax of the reward's classifier (no attributes set)."""
    scores = []
    for c in range(10):
        cond = torch.zeros(pix.shape[0], 16, device=dev)
        cond[:, c] = 1
        scores.append(reward(pix, cond))
    return torch.stack(scores, 1).argmax(1)


@torch.no_grad()
def batched(fn, x, bs=1000):
    return torch.cat([fn(x[i:i + bs]) for i in range(0, x.shape[0], bs)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=100)
    ap.add_argument("--sweep", action="store_true", help="also try other samplers/guidance (30/class)")
    ap.add_argument("--out", default=C.HERE, help="where to write the sample grids and results json")
    ap.add_argument("--through", metavar="EVOSEARCH",
                    help="draw the samples with the product (EVOSEARCH sample, keyed seed 1234) instead of "
                         "this script's samplers; with the bundles' default settings only")
    args = ap.parse_args()
    C.setup_threads()
    dev = C.pick_device()
    torch.manual_seed(0)
    print(f"device {dev}, torch {torch.__version__}")
    results = {"device": str(dev), "torch": torch.__version__}

    xt, yt = C.load_fashion("test")
    xt, yt = xt.to(dev), yt.to(dev)
    b0 = Bundle(os.path.join(C.HERE, "fashion-ddpm"), dev)
    match, evalr = b0.rewards["fashion-match"], b0.rewards["fashion-eval"]
    # The classifiers' accuracy does not depend on who draws the samples: measured without --through.
    for name, r in ([] if args.through else [("guidance classifier (fashion-match)", match),
                                             ("evaluator (fashion-eval)", evalr)]):
        acc = (batched(lambda x: predict(r, x, dev), xt) == yt).float().mean().item()
        print(f"{name}: held-out t10k accuracy {acc:.4f}")
        results["acc " + name] = acc
    if not args.through:
        agree = (batched(lambda x: predict(match, x, dev), xt) == batched(lambda x: predict(evalr, x, dev), xt))
        print(f"guidance/evaluator agreement on t10k: {agree.float().mean().item():.4f}")
    real_g = batched(match.attribute_stats, xt)
    real_e = batched(evalr.attribute_stats, xt)

    n = args.n_per_class
    labels = [c for c in range(10) for _ in range(n)]
    lab_t = torch.tensor(labels, device=dev)
    for bname in ["fashion-ddpm", "fashion-flow"]:
        b = Bundle(os.path.join(C.HERE, bname), dev)
        configs = [("default", dict(b.m["defaults"]))]
        if args.sweep and not args.through:
            d = b.m["defaults"]
            for gs in [1.0, 2.0, 5.0]:
                configs.append((f"guidance {gs}", dict(d, guidance_scale=gs)))
            if b.m["model_kind"] == "FLOW":
                configs.append(("EULER 30", dict(d, sampler="EULER", steps=30)))
                configs.append(("DPMPP_SDE order 1", dict(d, order=1)))
                configs.append(("DPMPP_SDE 15 steps", dict(d, steps=15)))
            else:
                configs.append(("DDIM 20 steps", dict(d, steps=20)))
                configs.append(("DDIM eta 0", dict(d, eta=0.0)))
        for cname, st in configs:
            nn_ = n if cname == "default" else min(n, 30)
            labs = [c for c in range(10) for _ in range(nn_)]
            lt = torch.tensor(labs, device=dev)
            gen = torch.Generator().manual_seed(1234)
            t0 = time.time()
            if args.through:
                import tempfile
                with tempfile.TemporaryDirectory() as tmp:
                    pix = generate_through(args.through, os.path.join(C.HERE, bname), nn_, 1234, tmp).to(dev)
            else:
                pix = generate(b, labs, st, gen)
            el = time.time() - t0
            assert torch.isfinite(pix).all()
            pe = predict(evalr, pix, dev)
            pg = predict(match, pix, dev)
            per = [(pe[lt == c] == c).float().mean().item() for c in range(10)]
            overall = (pe == lt).float().mean().item()
            overall_g = (pg == lt).float().mean().item()
            key = f"{bname} [{cname}: {json.dumps(st)}]"
            print(f"\n{key}: {len(labs)} samples in {el:.1f}s")
            print(f"  evaluator agrees with prompted class: overall {overall:.3f}  (guidance classifier: {overall_g:.3f})")
            print("  per class: " + ", ".join(f"{C.CLASS_NAMES[c]} {per[c]:.2f}" for c in range(10)))
            results[key] = {"eval_agree": overall, "guid_agree": overall_g, "per_class": per, "seconds": el}
            if cname != "default":
                continue
            # sample grid: one row per class, 10 columns
            idx = torch.tensor([c * n + j for c in range(10) for j in range(min(10, n))])
            suffix = "-product" if args.through else ""
            write_png(os.path.join(args.out, f"samples-{bname}{suffix}.png"), grid(pix[idx.to(dev)], 10, min(10, n)))
            # attribute statistics of generated vs real
            gg, ge = match.attribute_stats(pix), evalr.attribute_stats(pix)
            print("  attribute stats (mean +- std)     generated            real t10k")
            for j, sname in enumerate(["brightness", "size", "texture"]):
                print(f"    guidance {sname:10s}  {gg[:, j].mean():.3f} +- {gg[:, j].std():.3f}    "
                      f"{real_g[:, j].mean():.3f} +- {real_g[:, j].std():.3f}")
            for j, sname in enumerate(["brightness", "size", "texture"]):
                print(f"    eval     {sname:10s}  {ge[:, j].mean():.3f} +- {ge[:, j].std():.3f}    "
                      f"{real_e[:, j].mean():.3f} +- {real_e[:, j].std():.3f}")
            results[key]["gen_stats_guid_mean"] = gg.mean(0).tolist()
            results[key]["real_stats_guid_mean"] = real_g.mean(0).tolist()
            # best-of-N sanity check: the generator ignores attributes, so the samples of class c are
            # also samples for "<attr> c"; pick the best of groups of 10 by the GUIDANCE reward and
            # score with the EVALUATOR.
            print("  best-of-10 by fashion-match, scored by fashion-eval (mean over 10 groups x 10 classes):")
            for word in ["dark", "bright", "small", "large", "plain", "patterned"]:
                cond = b.encoder([f"{word} {C.CLASS_PROMPT[c]}" for c in labels])
                rg, re_ = match(pix, cond), evalr(pix, cond)
                G = max(1, n // 10)
                rg = rg.view(10, G, -1)
                re_ = re_.view(10, G, -1)
                best = rg.argmax(-1, keepdim=True)
                rnd = re_.mean().item()
                sel = re_.gather(-1, best).mean().item()
                print(f"    '{word} <class>': eval score random {rnd:.3f} -> best-of-10 {sel:.3f}")
                results[key][f"bo10 {word}"] = [rnd, sel]
    results["samples"] = "evosearch sample (the product)" if args.through else "evaluate.py's samplers"
    with open(os.path.join(args.out, "eval_results-product.json" if args.through else "eval_results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
