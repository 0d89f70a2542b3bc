"""Check every exported .pt: loads with torch.jit.load, runs on a batch of 2 with prompts
["a dark sneaker", ""], output shapes right, finite, decoders in [0,1]. CPU and (if present) CUDA."""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def check(bundle: str, dev: str):
    d = os.path.join(HERE, bundle)
    m = json.load(open(os.path.join(d, "manifest.json")))
    ld = lambda f: torch.jit.load(os.path.join(d, f), map_location=dev)
    enc, den, dec = ld(m["encoder"]), ld(m["denoiser"]), ld(m["decoder"])
    cond = enc(["a dark sneaker", ""]).to(dev)
    assert cond.shape == (2, m["condition_dim"]) and cond.dtype == torch.float32, cond.shape
    assert cond[0, 7] == 1 and cond[0, 11] == -1 and cond[1, 10] == 1 and cond[1, :10].sum() == 0, cond
    x = torch.randn([2] + m["latent_shape"], device=dev)
    t = torch.tensor([999.0, 10.0], device=dev) if m["model_kind"] == "DIFFUSION" else \
        torch.tensor([1000.0, 250.0], device=dev)
    with torch.no_grad():
        out = den(x, t, cond)
        assert out.shape == x.shape and torch.isfinite(out).all()
        pix = dec(x * 3)
        assert pix.shape == (2, 1, 28, 28) and torch.isfinite(pix).all()
        assert pix.min() >= 0 and pix.max() <= 1, (pix.min(), pix.max())
        for r in m["rewards"]:
            rm = ld(r["file"])
            s = rm(pix, cond)
            f = rm.features(pix)
            assert s.shape == (2,) and torch.isfinite(s).all(), s
            assert f.dim() == 2 and f.shape[0] == 2 and torch.isfinite(f).all()
            print(f"  {bundle}/{r['file']}: reward {s.tolist()} features {tuple(f.shape)}")
    print(f"{bundle} on {dev}: encoder {tuple(cond.shape)}, denoiser {tuple(out.shape)}, "
          f"decoder {tuple(pix.shape)} in [{pix.min().item():.3f},{pix.max().item():.3f}]  OK")


if __name__ == "__main__":
    print("torch", torch.__version__)
    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devs:
        for b in ["fashion-ddpm", "fashion-flow"]:
            check(b, dev)
    print("ALL OK on", devs)
