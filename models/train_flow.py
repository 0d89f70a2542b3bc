"""Latent rectified flow (velocity prediction) on the scaled 4x7x7 autoencoder latents.
x_sigma = (1-sigma) z0 + sigma*noise, target v = noise - z0, model time input t = 1000*sigma."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import common as C

if __name__ == "__main__":
    args = C.train_args("train latent flow", iters=4000, batch=128, lr=1e-3, seed=31)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    x, y = C.load_fashion("train")
    enc, dec = C.AEEncoder(), C.AEDecoder()
    extra = C.load_ckpt("autoencoder", nn.ModuleDict({"enc": enc, "dec": dec}))
    shift, scale = float(extra["shift"]), float(extra["scale"])
    enc = enc.to(dev).eval()
    with torch.no_grad():
        xg = x.to(dev)
        zall = torch.cat([(enc(xg[i:i + 1000]) - shift) * scale for i in range(0, xg.shape[0], 1000)])
    yg = y.to(dev)
    print(f"[flow] latents {tuple(zall.shape)} std {zall.std().item():.3f}", flush=True)
    model = C.LatentVelocityNet().to(dev)

    def loss_fn(model, idx):
        z0 = zall[idx]
        cond = C.class_cond(yg[idx], p_null=0.1)
        sigma = torch.rand(args.batch, device=dev)
        s = sigma.view(-1, 1, 1, 1)
        noise = torch.randn_like(z0)
        xs = (1 - s) * z0 + s * noise
        return F.mse_loss(model(xs, sigma * 1000.0, cond), noise - z0)

    C.train_denoiser("flow", model, zall.shape[0], loss_fn, args, dev)
