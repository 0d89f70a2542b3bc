"""Frame autoencoder of the fashion-video bundle: 1x32x32 canvas frame <-> 4x8x8 latent, trained
on single frames (a 16 px train-split item anywhere on the canvas, log-uniform gain 0.08..1).
BCE loss, 5% latent noise + 1e-4 L2 (as the image autoencoder); also measures the latent scale
on frames of real clips and the reconstruction error on t10k clips."""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import common as C
import video_common as V

if __name__ == "__main__":
    args = C.train_args("train the video frame autoencoder", iters=2000, batch=64, lr=2e-3, seed=51)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    items, labels = V.load_items("train")
    gen = torch.Generator().manual_seed(args.seed)
    enc, dec = V.FrameEncoder().to(dev), V.FrameDecoder().to(dev)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    t0, c0 = time.time(), V.cpu_seconds()
    it = 0
    total = args.iters
    for it in range(args.iters):
        total = C.budget_total(it, t0, args, total)
        if it >= total:
            it -= 1
            break
        xb = V.make_frames(items, labels, args.batch, gen)[0].to(dev)
        z = enc(xb)
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
            print(f"[video_ae] it {it} bce {rec.item():.4f} mse {mse:.5f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el, cpu = time.time() - t0, V.cpu_seconds() - c0
    enc.eval()
    dec.eval()
    with torch.no_grad():
        # latent statistics over the frames of 1000 train-split clips, error on 500 t10k clips
        fr = V.frames_of(V.make_clips(items, labels, 1000, torch.Generator().manual_seed(5))["clips"])
        zs = torch.cat([enc(fr[i:i + 1000].to(dev)) for i in range(0, fr.shape[0], 1000)])
        shift = zs.mean().item()
        scale = 1.0 / zs.std().item()
        ti, tl = V.load_items("test")
        ft = V.frames_of(V.make_clips(ti, tl, 500, torch.Generator().manual_seed(6))["clips"]).to(dev)
        rec = torch.cat([torch.sigmoid(dec(enc(ft[i:i + 1000]))) for i in range(0, ft.shape[0], 1000)])
        test_mse = F.mse_loss(rec, ft).item()
    print(f"[video_ae] done {done} iters batch {args.batch} in {el:.1f}s ({cpu:.0f} CPU s) on {dev}; t10k clip recon MSE "
          f"{test_mse:.5f}; latent shift {shift:.4f} scale {scale:.4f}; params enc {C.nparams(enc)} "
          f"dec {C.nparams(dec)}", flush=True)
    ae = nn.ModuleDict({"enc": enc.cpu(), "dec": dec.cpu()})
    C.save_ckpt("video_autoencoder", ae, {"iters": done, "batch": args.batch, "seconds": el, "cpu_seconds": cpu, "shift": shift,
                                           "scale": scale, "test_mse": test_mse,
                                           "device_cuda": float(dev.type == "cuda")})
