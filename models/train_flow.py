"""Latent rectified flow (velocity prediction) on the scaled 4x7x7 autoencoder latents.
x_sigma = (1-sigma) z0 + sigma*noise, target v = noise - z0, model time input t = 1000*sigma."""
import time
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
    ema = C.EMA(model, 0.999)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    t0 = time.time()
    it = 0
    avg = 0.0
    total = args.iters
    for it in range(args.iters):
        total = C.budget_total(it, t0, args, total)
        if it >= total:
            it -= 1
            break
        idx = torch.randint(0, zall.shape[0], (args.batch,), device=dev)
        z0 = zall[idx]
        cond = C.class_cond(yg[idx], p_null=0.1)
        sigma = torch.rand(args.batch, device=dev)
        s = sigma.view(-1, 1, 1, 1)
        noise = torch.randn_like(z0)
        xs = (1 - s) * z0 + s * noise
        loss = F.mse_loss(model(xs, sigma * 1000.0, cond), noise - z0)
        C.set_lr(opt, C.lr_at(it, total, args.lr))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        if it % 50 == 0:
            avg = 0.8 * avg + 0.2 * loss.item() if it else loss.item()
        if it % 500 == 0:
            print(f"[flow] it {it} loss(avg) {avg:.4f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el = time.time() - t0
    print(f"[flow] done {done} iters batch {args.batch} in {el:.1f}s on {dev}; final avg loss {avg:.4f}; "
          f"params {C.nparams(model)}", flush=True)
    ema.copy_to(model)
    model.cpu()
    C.save_ckpt("flow", model, {"iters": done, "batch": args.batch, "seconds": el, "loss": avg,
                                "device_cuda": float(dev.type == "cuda")})
