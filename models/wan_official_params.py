"""List every parameter (and buffer) name and shape of the OFFICIAL Wan 2.1 WanModel at a given config.

It instantiates the official class from the official source, so the list is the checkpoint layout the
official code loads (`WanModel.from_pretrained` reads a state dict with exactly these keys). Nothing is
allocated: parameters are created on torch's 'meta' device (shapes only), so the 1.3B model (1.42e9
parameters, 5.7 GB in float32) is listed in a second.

Input: a checkout of github.com/Wan-Video/Wan2.1 (the list committed in models/wan21_1.3b_params.txt was
made from commit 9737cba9c1c3c4d04b33fcad41c111989865d315). Only wan/modules/model.py and
wan/modules/attention.py are imported, as a package of their own (wan/__init__.py would pull in the
whole pipeline). Two shims make them import under Debian's torch 1.13 without the pipeline's packages:
  - diffusers is not installed: `ModelMixin` is replaced by nn.Module, `ConfigMixin` by an empty class
    and `register_to_config` by the identity decorator (they only record the config; no parameters);
  - torch 1.13 has no `with torch.device('meta')`: while the class is built, torch.empty / zeros / ones /
    randn create their tensors on 'meta' when no device is given (every nn layer and the official
    `torch.randn(1, 6, dim)` modulations go through them). The RoPE table `freqs` is a plain attribute
    (not a parameter or buffer) in the official code, so it is not in the state dict and not listed.
flash_attn is optional in attention.py (it is only needed to run the model, not to build it).

Usage:
  git clone https://github.com/Wan-Video/Wan2.1 /tmp/Wan2.1      # or any copy of the source tree
  /usr/bin/python3 models/wan_official_params.py --wan-source /tmp/Wan2.1 \
      --commit "$(git -C /tmp/Wan2.1 rev-parse HEAD)" > models/wan21_1.3b_params.txt

Output: a header line (`#`), then one line per state-dict entry, `name shape` with the shape as comma-separated sizes, in the
module's own order, then a last line `# total N` with the number of elements.
"""
import argparse
import importlib.util
import os
import sys
import types

import torch
import torch.nn as nn

# wan/configs/wan_t2v_1_3B.py and shared_config.py (text_len 512); in/out 16 and text_dim 4096 are the
# WanModel defaults the official pipeline keeps.
CONFIGS = {
    "1.3b": dict(model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=1536, ffn_dim=8960,
                 freq_dim=256, text_dim=4096, out_dim=16, num_heads=12, num_layers=30, window_size=(-1, -1),
                 qk_norm=True, cross_attn_norm=True, eps=1e-6),
    "14b": dict(model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=5120, ffn_dim=13824,
                freq_dim=256, text_dim=4096, out_dim=16, num_heads=40, num_layers=40, window_size=(-1, -1),
                qk_norm=True, cross_attn_norm=True, eps=1e-6),
}


def install_diffusers_shim():
    diffusers = types.ModuleType("diffusers")
    configuration_utils = types.ModuleType("diffusers.configuration_utils")
    models = types.ModuleType("diffusers.models")
    modeling_utils = types.ModuleType("diffusers.models.modeling_utils")

    class ConfigMixin:
        pass

    configuration_utils.ConfigMixin = ConfigMixin
    configuration_utils.register_to_config = lambda init: init
    modeling_utils.ModelMixin = nn.Module
    diffusers.configuration_utils = configuration_utils
    diffusers.models = models
    models.modeling_utils = modeling_utils
    sys.modules.update({"diffusers": diffusers, "diffusers.configuration_utils": configuration_utils,
                        "diffusers.models": models, "diffusers.models.modeling_utils": modeling_utils})


def load_official_model_module(wan_source: str):
    modules_dir = os.path.join(wan_source, "wan", "modules")
    if not os.path.isfile(os.path.join(modules_dir, "model.py")):
        raise SystemExit(f"--wan-source {wan_source}: no wan/modules/model.py there (a Wan2.1 checkout?)")
    install_diffusers_shim()
    package = types.ModuleType("wan_official")
    package.__path__ = [modules_dir]
    sys.modules["wan_official"] = package
    for name in ("attention", "model"):
        spec = importlib.util.spec_from_file_location(f"wan_official.{name}", os.path.join(modules_dir, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["wan_official.model"]


class MetaFactories:
    """While active, torch.empty/zeros/ones/randn default to device='meta'."""

    NAMES = ("empty", "zeros", "ones", "randn")

    def __enter__(self):
        self.saved = {n: getattr(torch, n) for n in self.NAMES}
        for n, original in self.saved.items():
            def on_meta(*args, _original=original, **kwargs):
                if kwargs.get("device") is None:
                    kwargs["device"] = "meta"
                return _original(*args, **kwargs)
            setattr(torch, n, on_meta)
        return self

    def __exit__(self, *exc):
        for n, original in self.saved.items():
            setattr(torch, n, original)


def official_state_shapes(wan_source: str, config: str):
    model_py = load_official_model_module(wan_source)
    with MetaFactories():
        model = model_py.WanModel(**CONFIGS[config])
    state = model.state_dict()
    bad = [k for k, v in state.items() if v.device.type != "meta"]
    if bad:
        raise SystemExit(f"not built on meta (the shim missed a factory): {bad[:5]}")
    return [(k, tuple(v.shape)) for k, v in state.items()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wan-source", required=True, help="a checkout of github.com/Wan-Video/Wan2.1")
    p.add_argument("--config", default="1.3b", choices=sorted(CONFIGS))
    p.add_argument("--commit", help="the checkout's commit, written into the header line")
    args = p.parse_args()
    shapes = official_state_shapes(args.wan_source, args.config)
    source = "github.com/Wan-Video/Wan2.1" + (f" at {args.commit}" if args.commit else "")
    print(f"# state dict of the official WanModel (t2v, {args.config}) from {source}, "
          f"listed by models/wan_official_params.py")
    total = 0
    for name, shape in shapes:
        n = 1
        for s in shape:
            n *= s
        total += n
        print(f"{name} {','.join(str(s) for s in shape)}")
    print(f"# total {total}")


if __name__ == "__main__":
    main()
