"""Pixel-space class-conditional DDPM (epsilon prediction, linear betas 1e-4..0.02, T=1000)."""
import time
import torch
import torch.nn.functional as F
import common as C

if __name__ == "__main__":
    args = C.train_args("train pixel DDPM", iters=4000, batch=128, lr=2e-3, seed=11)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    x, y = C.load_fashion("train")
    xg, yg = (x * 2 - 1).to(dev), y.to(dev)
    abar = C.ddpm_alphas_cumprod().to(dev)
    model = C.PixelUNet().to(dev)
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
        idx = torch.randint(0, xg.shape[0], (args.batch,), device=dev)
        x0 = xg[idx]
        cond = C.class_cond(yg[idx], p_null=0.1)
        t = torch.randint(0, 1000, (args.batch,), device=dev)
        a = abar[t].view(-1, 1, 1, 1)
        eps = torch.randn_like(x0)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        loss = F.mse_loss(model(xt, t.float(), cond), eps)
        C.set_lr(opt, C.lr_at(it, total, args.lr))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        if it % 50 == 0:
            avg = 0.8 * avg + 0.2 * loss.item() if it else loss.item()
        if it % 500 == 0:
            print(f"[ddpm] it {it} loss(avg) {avg:.4f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el = time.time() - t0
    print(f"[ddpm] done {done} iters batch {args.batch} in {el:.1f}s on {dev}; final avg loss {avg:.4f}; "
          f"params {C.nparams(model)}", flush=True)
    ema.copy_to(model)
    model.cpu()
    C.save_ckpt("ddpm", model, {"iters": done, "batch": args.batch, "seconds": el, "loss": avg,
                                "device_cuda": float(dev.type == "cuda")})
