"""Latent rectified flow (velocity prediction) of the fashion-video bundle on [4,8,8,8] latents
(the frame autoencoder's scaled latents of every frame). A pool of 48k clips of the train split
is made and encoded once; batches are drawn from it. x_sigma = (1-sigma) z0 + sigma*noise,
target v = noise - z0, model time input t = 1000*sigma, sigma ~ U[0,1].
Condition: class + direction; dropped together 10% (the CFG null condition), the direction alone
10%, the class alone 5%."""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import common as C
import video_common as V

POOL = 48000

if __name__ == "__main__":
    args = C.train_args("train the latent video flow", iters=5000, batch=32, lr=1e-3, seed=61)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    t0, c0 = time.time(), V.cpu_seconds()
    items, labels = V.load_items("train")
    gen = torch.Generator().manual_seed(args.seed)
    enc, dec = V.FrameEncoder(), V.FrameDecoder()
    extra = C.load_ckpt("video_autoencoder", nn.ModuleDict({"enc": enc, "dec": dec}))
    shift, scale = float(extra["shift"]), float(extra["scale"])
    enc = enc.to(dev).eval()
    zs, ys, ds = [], [], []
    with torch.no_grad():
        for _ in range(0, POOL, 500):
            d = V.make_clips(items, labels, 500, gen)
            fr = V.frames_of(d["clips"]).to(dev)
            # 256 frames per call: whole chunks of 4000 frames ran 2x slower on the CPU (cache)
            z = torch.cat([enc(fr[i:i + 256]) for i in range(0, fr.shape[0], 256)])
            zs.append((V.clips_of(z, V.FRAMES) - shift) * scale)
            ys.append(d["labels"])
            ds.append(d["direction"])
    zall, yall, dall = torch.cat(zs), torch.cat(ys).to(dev), torch.cat(ds).to(dev)
    print(f"[video_flow] latent pool {tuple(zall.shape)} std {zall.std().item():.3f} encoded in "
          f"{time.time() - t0:.1f}s", flush=True)
    model = V.VideoVelocityNet().to(dev)

    def loss_fn(model, idx):
        z0 = zall[idx]
        cond = V.clip_cond(yall[idx], dall[idx], p_null=0.1, p_no_dir=0.1, p_no_class=0.05)
        sigma = torch.rand(args.batch, device=dev)
        s = sigma.view(-1, 1, 1, 1, 1)
        noise = torch.randn_like(z0)
        xs = (1 - s) * z0 + s * noise
        return F.mse_loss(model(xs, sigma * 1000.0, cond), noise - z0)

    C.train_denoiser("video_flow", model, POOL, loss_fn, args, dev)
    print(f"[video_flow] {time.time() - t0:.1f}s wall, {V.cpu_seconds() - c0:.0f} CPU s including the pool",
          flush=True)
