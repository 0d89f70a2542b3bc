"""Shared trainer for the two reward classifiers (see train_guidance_clf.py / train_eval_clf.py)."""
import time
import torch
import torch.nn.functional as F
import common as C


def run(name: str, model_cls, seed: int, iters: int, batch: int, lr: float, label_smoothing: float):
    args = C.train_args(f"train {name}", iters, batch, lr, seed)
    C.setup_threads()
    torch.manual_seed(args.seed)
    dev = C.pick_device()
    x, y = C.load_fashion("train")
    xt, yt = C.load_fashion("test")      # held out: only reported, never used for selection
    xg, yg = x.to(dev), y.to(dev)
    model = model_cls().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    t0 = time.time()
    it = 0
    total = args.iters
    for it in range(args.iters):
        total = C.budget_total(it, t0, args, total)
        if it >= total:
            it -= 1
            break
        model.train()
        idx = torch.randint(0, xg.shape[0], (args.batch,), device=dev)
        xb = C.random_shift(xg[idx], 2)
        loss = F.cross_entropy(model(xb), yg[idx], label_smoothing=label_smoothing)
        C.set_lr(opt, C.lr_at(it, total, args.lr))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 500 == 0:
            print(f"[{name}] it {it} loss {loss.item():.4f} {time.time() - t0:.1f}s", flush=True)
    done = it + 1
    el = time.time() - t0
    acc = C.accuracy(model, xt, yt, dev)
    print(f"[{name}] done {done} iters batch {args.batch} in {el:.1f}s on {dev}; "
          f"held-out t10k accuracy {acc:.4f}; params {C.nparams(model)}", flush=True)
    model.cpu()
    C.save_ckpt(name, model, {"iters": done, "batch": args.batch, "seconds": el, "test_acc": acc,
                              "device_cuda": float(dev.type == "cuda")})
