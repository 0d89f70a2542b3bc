"""A plain Python loop over the TorchScript modules of an evosearch bundle: what a user would write
instead of `evosearch run`. One prompt at a time, each generation one batch (the whole population,
classifier-free guidance as one call on the doubled batch [cond; null]), with the bundle's sampler:
SDE-DPM-Solver++ for flow bundles (bench/official_loop.py's image strategy, reused from there),
DDIM with the bundle's eta for diffusion bundles (epsilon, v or sample prediction).

Timed against `evosearch run` by bench/compare_python_loop.sh. The search is EvoSearch (schedule S,
populations K, elites, tournaments, Eq. 7 / Eq. 8 mutation) as in official_loop.py; its noise is
torch's generator, not evosearch's keyed noise, so the answers are not the same, but the NFE is
(checked against --expect-nfe).

  /usr/bin/python3 bench/python_loop.py BUNDLE PROMPTS.txt --steps 30 --evolution-steps 0,6,12,18 \
      --population 12,6,6,6,6 [--device cpu] [--threads N] [--expect-nfe N] [--json OUT]
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_loop  # noqa: E402  (the flow schedule, the EvoSearch loop, prompt reading)


def parse_args():
    p = argparse.ArgumentParser(description="EvoSearch as a plain Python loop, one prompt at a time")
    p.add_argument("bundle")
    p.add_argument("prompts", help="a .txt suite: one prompt per line, # comments")
    p.add_argument("--steps", type=int, help="T (default: the bundle's)")
    p.add_argument("--evolution-steps", required=True, help="S, comma-separated")
    p.add_argument("--population", required=True, help="K = k_init,k_1,...,k_n, comma-separated")
    p.add_argument("--elites", type=int, default=1)
    p.add_argument("--tournament-fraction", type=float, default=0.9)
    p.add_argument("--beta", type=float, default=0.3)
    p.add_argument("--guidance", type=float, help="CFG scale (default: the bundle's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--expect-nfe", type=int, help="fail unless the total NFE is exactly this")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    args.strategy = "image"  # each generation one batch, CFG batched
    return args


class DiffusionSchedule(official_loop.FlowSchedule):
    """The bundle's discrete diffusion schedule at T steps, as worker/schedule.cc builds it:
    x = alpha x0 + sigma noise, ending at alpha 1, sigma 0."""

    def __init__(self, steps, diffusion, eta):
        n = diffusion.get("train_timesteps", 1000)
        start, end = diffusion.get("beta_start", 1e-4), diffusion.get("beta_end", 0.02)
        scaled = diffusion.get("beta_schedule", "LINEAR") == "SCALED_LINEAR"
        abar, prod = [], 1.0
        for t in range(n):
            f = 0.0 if n == 1 else t / (n - 1)
            beta = (math.sqrt(start) + f * (math.sqrt(end) - math.sqrt(start))) ** 2 if scaled else start + f * (end - start)
            prod *= 1.0 - beta
            abar.append(prod)
        self.alpha, self.sigma, self.model_t = [], [], []
        for i in range(steps):
            t = math.floor(n - i * n / steps + 0.5) - 1  # std::lround of a positive number
            self.alpha.append(math.sqrt(abar[t]))
            self.sigma.append(math.sqrt(1.0 - abar[t]))
            self.model_t.append(float(t))
        self.alpha.append(1.0)
        self.sigma.append(0.0)
        self.model_t.append(-1.0)
        self.steps = steps
        self.eta = eta

    def noise_std(self, i):
        return self.eta * super().noise_std(i)

    def ddim_step(self, i, x, x0, noise):
        std = self.noise_std(i)
        eps = (x - self.alpha[i] * x0) / self.sigma[i]
        out = self.alpha[i + 1] * x0 + math.sqrt(max(0.0, self.sigma[i + 1] ** 2 - std * std)) * eps
        return out + std * noise if std > 0 else out


class PythonLoop(official_loop.OfficialLoop):
    def __init__(self, args, modules, schedule, guidance, sampler):
        super().__init__(args, modules, schedule, guidance)
        self.sampler = sampler
        self.strategy = "one prompt at a time, each generation one batch, CFG batched"

    def to_x0(self, raw, x, i):
        alpha, sigma = self.s.alpha[i], self.s.sigma[i]
        if self.m.prediction == "EPSILON":
            return (x - sigma * raw) / alpha
        if self.m.prediction == "V_PREDICTION":
            return alpha * x - sigma * raw
        if self.m.prediction == "VELOCITY":
            return x - sigma * raw
        return raw  # SAMPLE

    def x0(self, x, i, cond, null):
        t = self.s.model_t[i]
        if self.guidance == 1.0:
            return self.to_x0(self.m.denoise(x, t, official_loop.repeat(cond, len(x))), x, i)
        x_in = torch.cat([x, x])
        raw = self.m.denoise(x_in, t, official_loop.stack(official_loop.repeat(cond, len(x)),
                                                          official_loop.repeat(null, len(x))))
        x0_cond, x0_null = self.to_x0(raw, x_in, i).chunk(2)
        return x0_null + self.guidance * (x0_cond - x0_null)

    def step(self, i, x, x0, prev_x0):
        if self.sampler == "DDIM":
            std = self.s.noise_std(i)
            return self.s.ddim_step(i, x, x0, self.randn(*x.shape) if std > 0 else None)
        if self.sampler == "EULER":
            return x + (self.s.sigma[i + 1] - self.s.sigma[i]) * (x - x0) / self.s.sigma[i]
        return super().step(i, x, x0, prev_x0)


def main():
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    modules = official_loop.Modules(args.bundle, device, flow_only=False)
    m = modules.manifest
    defaults = m.get("defaults", {})
    steps = args.steps or defaults.get("steps", 50)
    sampler = defaults.get("sampler", "DDIM" if m.get("model_kind") == "DIFFUSION" else "EULER")
    if m.get("model_kind") == "FLOW":
        flow = m.get("flow", {})
        schedule = official_loop.FlowSchedule(steps, flow.get("shift", 1.0), flow.get("time_scale", 1000.0))
    else:
        schedule = DiffusionSchedule(steps, m.get("diffusion", {}), defaults.get("eta", 0.0) if sampler == "DDIM" else 1.0)
    guidance = args.guidance if args.guidance is not None else defaults.get("guidance_scale", 1.0)
    args.steps = steps
    loop = PythonLoop(args, modules, schedule, guidance, sampler)
    prompts = official_loop.read_prompts(args.prompts)
    print(f"python loop: {args.bundle}, {len(prompts)} prompts, T {steps}, sampler {sampler}, S {loop.S}, K {loop.K}, "
          f"guidance {guidance}, device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{loop.strategy}", flush=True)
    official_loop.search_and_report("python-loop", args, modules, loop, prompts, device)


if __name__ == "__main__":
    main()
