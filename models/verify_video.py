"""Check the exported fashion-video bundle: every module loads with torch.jit.load and runs on a
batch of 2 (["a dark sneaker moving left quickly while fading", ""]); the condition layout, output
shapes, finiteness and the decoder range are right; the decoder's encode() inverts it closely
enough on a real clip. CPU and (if present) CUDA."""
import json
import os

import torch

import common as C
import video_common as V


def check(dev: str):
    d = os.path.join(C.HERE, "fashion-video")
    m = json.load(open(os.path.join(d, "manifest.json")))
    ld = lambda f: torch.jit.load(os.path.join(d, f), map_location=dev)
    enc, den, dec = ld(m["encoder"]), ld(m["denoiser"]), ld(m["decoder"])
    assert m["latent_shape"] == V.LATENT and m["condition_dim"] == V.VCOND_DIM, m
    assert sum(r["guidance"] for r in m["rewards"]) == 1
    cond = enc(["a dark sneaker moving left quickly while fading", ""]).to(dev)
    expect = torch.zeros(2, V.VCOND_DIM)
    expect[0, 7], expect[0, 11], expect[0, 15], expect[0, 16], expect[0, 17] = 1, 1, -1, 1, -1
    expect[1, 10] = 1
    assert cond.shape == (2, V.VCOND_DIM) and cond.dtype == torch.float32 and torch.equal(cond.cpu(), expect), cond
    x = torch.randn([2] + m["latent_shape"], device=dev)
    t = torch.tensor([1000.0, 250.0], device=dev)
    with torch.no_grad():
        out = den(x, t, cond)
        assert out.shape == x.shape and torch.isfinite(out).all()
        pix = dec(x * 3)
        assert pix.shape == (2, 1, V.FRAMES, V.CANVAS, V.CANVAS) and torch.isfinite(pix).all()
        assert pix.min() >= 0 and pix.max() <= 1, (pix.min(), pix.max())
        items, labels = V.load_items("test")
        real = V.make_clips(items, labels, 2, torch.Generator().manual_seed(0))["clips"].to(dev)
        err = (dec(dec.encode(real)) - real).abs().mean().item()
        assert err < 0.05, err
        for r in m["rewards"]:
            rm = ld(r["file"])
            s = rm(pix, cond)
            f = rm.features(pix)
            assert s.shape == (2,) and torch.isfinite(s).all(), s
            assert f.dim() == 2 and f.shape[0] == 2 and torch.isfinite(f).all()
            print(f"  fashion-video/{r['file']}: reward {s.tolist()} features {tuple(f.shape)}")
    print(f"fashion-video on {dev}: encoder {tuple(cond.shape)}, denoiser {tuple(out.shape)}, "
          f"decoder {tuple(pix.shape)} in [{pix.min().item():.3f},{pix.max().item():.3f}], "
          f"round-trip error {err:.4f}  OK")


if __name__ == "__main__":
    print("torch", torch.__version__)
    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devs:
        check(dev)
    print("ALL OK on", devs)
