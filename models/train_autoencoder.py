"""Conv autoencoder 1x28x28 <-> 4x7x7 for the latent flow model; also measures the latent scale."""
import time
import torch
import torch.nn as nn
import torch.nn.functional as F
import common as C

if __name__ == "__main__":
    args = C.train_args("train autoencoder", iters=3000, batch=128, lr=2e-3, seed=21)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    x, _ = C.load_fashion("train")
    xg = x.to(dev)
    enc, dec = C.AEEncoder().to(dev), C.AEDecoder().to(dev)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    t0 = time.time()
    it = 0
    total = args.iters
    for it in range(args.iters):
        total = C.budget_total(it, t0, args, total)
        if it >= total:
            it -= 1
            break
        idx = torch.randint(0, xg.shape[0], (args.batch,), device=dev)
        xb = xg[idx]
        z = enc(xb)
        # small latent noise + L2 keep the latent space smooth for the flow model
        zn = z + 0.05 * z.detach().std() * torch.randn_like(z)
        logits = dec(zn)
        rec = F.binary_cross_entropy_with_logits(logits, xb)
        loss = rec + 1e-4 * z.pow(2).mean()
        C.set_lr(opt, C.lr_at(it, total, args.lr))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 250 == 0:
            mse = F.mse_loss(torch.sigmoid(logits), xb).item()
            print(f"[ae] it {it} bce {rec.item():.4f} mse {mse:.5f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el = time.time() - t0
    enc.eval(); dec.eval()
    with torch.no_grad():
        zs = torch.cat([enc(xg[i:i + 1000]) for i in range(0, xg.shape[0], 1000)])
        shift = zs.mean().item()
        scale = 1.0 / zs.std().item()
        xt, _ = C.load_fashion("test")
        xt = xt.to(dev)
        rec = torch.cat([torch.sigmoid(dec(enc(xt[i:i + 1000]))) for i in range(0, xt.shape[0], 1000)])
        test_mse = F.mse_loss(rec, xt).item()
    print(f"[ae] done {done} iters batch {args.batch} in {el:.1f}s on {dev}; t10k recon MSE {test_mse:.5f}; "
          f"latent shift {shift:.4f} scale {scale:.4f}; params enc {C.nparams(enc)} dec {C.nparams(dec)}", flush=True)
    ae = nn.ModuleDict({"enc": enc.cpu(), "dec": dec.cpu()})
    C.save_ckpt("autoencoder", ae, {"iters": done, "batch": args.batch, "seconds": el, "shift": shift,
                                     "scale": scale, "test_mse": test_mse, "device_cuda": float(dev.type == "cuda")})
