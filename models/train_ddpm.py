"""Pixel-space class-conditional DDPM (epsilon prediction, linear betas 1e-4..0.02, T=1000)."""
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

    def loss_fn(model, idx):
        x0 = xg[idx]
        cond = C.class_cond(yg[idx], p_null=0.1)
        t = torch.randint(0, 1000, (args.batch,), device=dev)
        a = abar[t].view(-1, 1, 1, 1)
        eps = torch.randn_like(x0)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        return F.mse_loss(model(xt, t.float(), cond), eps)

    C.train_denoiser("ddpm", model, xg.shape[0], loss_fn, args, dev)
