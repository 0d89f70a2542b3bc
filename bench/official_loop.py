"""The official EvoSearch code's execution strategy, over the TorchScript modules of an evosearch bundle.

Timed at equal NFE against `evosearch run` by bench/compare_official.sh. What it copies from the
official code (github.com/tinnerhrhe/EvoSearch-codes):
  - one prompt at a time, each prompt's generations one after another;
  - images (SD2.1/evo_pipe.py, a diffusers pipeline): a generation's whole population is one batch,
    classifier-free guidance one call on the doubled batch [cond; null];
  - video (Wan/Wan21/wan/text2video.py, WanT2VEvol): one candidate at a time, per step the
    conditional and the unconditional prediction as two calls of batch 1, steps outer and
    candidates inner; every candidate decoded and scored on its own.
The search itself is EvoSearch as README.md describes it (schedule S, populations K, elites, tournaments
over the archive at s_g, Eq. 7 / Eq. 8 mutation), sampled with SDE-DPM-Solver++ on the bundle's flow
schedule. Its numerics are not meant to match evosearch's (different noise), but its NFE is: a CFG
pair counts as one, and the total is checked against --expect-nfe. The modules are called as evosearch
calls them: version 1 or 2 conditions (a vector, or named parts such as Wan's tokens and mask) from the
encoder or the condition_file, a reward given the condition or the prompt text, the manifest's dtype.

  /usr/bin/python3 bench/official_loop.py BUNDLE PROMPTS.txt --steps 10 --evolution-steps 1,4,6,9 \
      --population 10,5,5,5,5 [--device cpu] [--threads N] [--expect-nfe N] [--json OUT]
"""
import argparse
import json
import math
import os
import sys
import time

import torch


def parse_args():
    p = argparse.ArgumentParser(description="EvoSearch with the official code's execution strategy")
    p.add_argument("bundle")
    p.add_argument("prompts", help="a .txt suite: one prompt per line, # comments")
    p.add_argument("--steps", type=int, required=True, help="T")
    p.add_argument("--evolution-steps", required=True, help="S, comma-separated")
    p.add_argument("--population", required=True, help="K = k_init,k_1,...,k_n, comma-separated")
    p.add_argument("--elites", type=int, default=1)
    p.add_argument("--tournament-fraction", type=float, default=0.9)
    p.add_argument("--beta", type=float, default=0.3)
    p.add_argument("--guidance", type=float, help="CFG scale (default: the bundle's)")
    p.add_argument("--strategy", choices=["auto", "image", "video"], default="auto",
                   help="auto: video for [C,F,H,W] latents, image for [C,H,W]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--expect-nfe", type=int, help="fail unless the total NFE is exactly this")
    p.add_argument("--json", help="also write the results here")
    return p.parse_args()


def read_prompts(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.strip().startswith("#")]


class FlowSchedule:
    """sigma from 1 to 0 over T steps with the time shift; x = (1 - sigma) x0 + sigma noise."""

    def __init__(self, steps, shift, time_scale):
        base = [1.0 - i / steps for i in range(steps + 1)]
        self.sigma = [shift * b / (1.0 + (shift - 1.0) * b) for b in base]
        self.alpha = [1.0 - s for s in self.sigma]
        self.model_t = [s * time_scale for s in self.sigma]
        self.steps = steps

    def exp_neg_h(self, i):
        denom = self.alpha[i + 1] * self.sigma[i]
        return self.sigma[i + 1] * self.alpha[i] / denom if denom > 0 else 0.0

    def lam(self, i):
        return math.log(self.alpha[i] / self.sigma[i])

    def noise_std(self, i):
        e = self.exp_neg_h(i)
        return self.sigma[i + 1] * math.sqrt(max(0.0, 1.0 - e * e))

    def dpmpp_sde_step(self, i, x, x0, prev_x0, noise):
        """SDE-DPM-Solver++ (order 2 multistep when prev_x0 is given), as worker/samplers.cc."""
        e = self.exp_neg_h(i)
        keep = self.sigma[i + 1] / self.sigma[i] * e if self.sigma[i] > 0 else 0.0
        data = self.alpha[i + 1] * (1.0 - e * e)
        out = keep * x + data * x0
        if prev_x0 is not None:
            h = self.lam(i + 1) - self.lam(i)
            h_prev = self.lam(i) - self.lam(i - 1)
            out = out + 0.5 * data * (h / h_prev) * (x0 - prev_x0)
        std = self.noise_std(i)
        return out + std * noise if std > 0 else out


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def repeat(cond, n):
    """A condition (its parts, each [1, *shape]) for a batch of n."""
    return [part.expand(n, *part.shape[1:]) for part in cond]


def stack(first, second):
    """Two batched conditions as one batch [first; second], part by part."""
    return [torch.cat([a, b]) for a, b in zip(first, second)]


class Modules:
    """The bundle's modules, called as evosearch calls them. A condition is the list of its parts in the manifest's
    order, each [1, *shape] (version 2: e.g. tokens and mask), or the one vector [1, D] (version 1); it comes from
    the encoder module or the condition_file. With the manifest's dtype bf16 / fp16, the modules are converted and
    their floating inputs cast to it, their outputs back to float32 (models/BUNDLE.md)."""

    def __init__(self, bundle, device, flow_only=True):
        with open(os.path.join(bundle, "manifest.json")) as f:
            self.manifest = m = json.load(f)
        if flow_only and (m.get("model_kind") != "FLOW" or m.get("prediction") != "VELOCITY"):
            sys.exit(f"{bundle}/manifest.json: this loop runs FLOW bundles with VELOCITY prediction, "
                     f"got {m.get('model_kind')} / {m.get('prediction')}")
        if flow_only and m.get("defaults", {}).get("sampler", "DPMPP_SDE") != "DPMPP_SDE":
            sys.exit(f"{bundle}/manifest.json: this loop samples with DPMPP_SDE, the bundle's default is "
                     f"{m['defaults']['sampler']}")
        guidance = [r for r in m["rewards"] if r.get("guidance")][0]
        if "file" not in guidance:
            sys.exit(f"{bundle}/manifest.json: the guidance reward {guidance.get('name')!r} is a service; this loop "
                     f"loads reward modules only")
        self.dtype = DTYPES[m.get("dtype", "fp32")]
        load = lambda name: torch.jit.load(os.path.join(bundle, name), map_location=device).eval().to(self.dtype)
        self.parts = [c["name"] for c in m.get("conditions", [])]  # none: version 1, one vector
        if "encoder" in m:
            self.encoder, self.condition_file = load(m["encoder"]), None
        else:
            self.encoder, self.condition_file = None, torch.load(os.path.join(bundle, m["condition_file"]))
        self.denoiser = load(m["denoiser"])
        self.decoder = None if m["decoder"] == "identity" else load(m["decoder"])
        self.reward = load(guidance["file"])
        self.reward_reads_text = guidance.get("input", "CONDITION") == "PROMPT_TEXT"
        self.latent = list(m["latent_shape"])
        self.prediction = m.get("prediction", "EPSILON")
        self.device = device
        self.calls = 0  # denoiser module calls (a CFG pair is two calls in the video strategy)
        self.model_seconds = 0.0

    def timed(self, fn, *args):
        # On CUDA a call returns before its kernels finish; timing it would need a synchronisation the
        # official code does not make, so model time is measured on the CPU only.
        start = time.perf_counter()
        args = [a.to(self.dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        out = fn(*args)
        self.model_seconds += time.perf_counter() - start
        return out

    def denoise(self, x, t, cond):
        self.calls += 1
        return self.timed(self.denoiser, x, torch.full((x.shape[0],), t, device=self.device), *cond).float()

    def encode(self, text):
        if self.encoder is None:
            if text not in self.condition_file:
                sys.exit(f"the bundle's condition_file has no condition for the prompt {text!r}")
            c = self.condition_file[text]
            parts = [c[name] for name in self.parts] if self.parts else [c]
            parts = [p.unsqueeze(0) for p in parts]
        else:
            c = self.timed(self.encoder, [text])
            parts = [c[name] for name in self.parts] if self.parts else [c]
        return [p.to(self.device).float() for p in parts]  # a bool mask arrives as 1/0, as in evosearch

    def fitness(self, latents, cond, prompt):
        pixels = latents.clamp(0, 1) if self.decoder is None else self.timed(self.decoder, latents).float()
        n = latents.shape[0]
        inputs = [[prompt] * n] if self.reward_reads_text else repeat(cond, n)
        return self.timed(self.reward, pixels, *inputs).float()


class OfficialLoop:
    def __init__(self, args, modules, schedule, guidance):
        self.args, self.m, self.s, self.guidance = args, modules, schedule, guidance
        self.S = [int(v) for v in args.evolution_steps.split(",")]
        self.K = [int(v) for v in args.population.split(",")]
        if len(self.K) != len(self.S) + 1:
            sys.exit(f"--population: expected {len(self.S) + 1} sizes (one more than --evolution-steps)")
        self.video = len(modules.latent) == 4 if args.strategy == "auto" else args.strategy == "video"
        self.rollout = self.rollout_one_at_a_time if self.video else self.rollout_population
        self.strategy = "video: one candidate at a time, CFG as two calls" if self.video else \
            "image: the population as one batch, CFG batched"
        self.order = modules.manifest.get("defaults", {}).get("order", 2)  # SDE-DPM-Solver++ order
        self.generator = torch.Generator(device="cpu").manual_seed(args.seed)
        self.nfe = 0

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.generator).to(self.m.device)

    def x0(self, x, i, cond, null):
        """CFG x0 estimate at step i for the batch x (velocity v: x0 = x - sigma v)."""
        t, sigma = self.s.model_t[i], self.s.sigma[i]
        if not self.video:
            v = self.m.denoise(torch.cat([x, x]), t, stack(repeat(cond, len(x)), repeat(null, len(x))))
            v_cond, v_null = v.chunk(2)
        else:
            v_cond = self.m.denoise(x, t, cond)
            v_null = self.m.denoise(x, t, null)
        x0_cond, x0_null = x - sigma * v_cond, x - sigma * v_null
        return x0_null + self.guidance * (x0_cond - x0_null)

    def step(self, i, x, x0, prev_x0):
        second = self.order == 2 and prev_x0 is not None and self.s.alpha[i - 1] > 0 and self.s.sigma[i + 1] > 0
        return self.s.dpmpp_sde_step(i, x, x0, prev_x0 if second else None, self.randn(*x.shape))

    def rollout_population(self, x, start, keep, cond, null):
        """All candidates as one batch; returns final states and {step: states} for `keep`."""
        kept, prev = {}, None
        for i in range(start, self.s.steps):
            if i in keep:
                kept[i] = x
            x0 = self.x0(x, i, cond, null)
            x, prev = self.step(i, x, x0, prev), x0
        self.nfe += len(x) * (self.s.steps - start)
        return x, kept

    def rollout_one_at_a_time(self, x, start, keep, cond, null):
        """As WanT2VEvol: for every step, for every candidate, a conditional and an unconditional call."""
        xs, prevs, kept = list(x.split(1)), [None] * len(x), {}
        for i in range(start, self.s.steps):
            if i in keep:
                kept[i] = torch.cat(xs)
            for k in range(len(xs)):
                x0 = self.x0(xs[k], i, cond, null)
                xs[k], prevs[k] = self.step(i, xs[k], x0, prevs[k]), x0
        self.nfe += len(xs) * (self.s.steps - start)
        return torch.cat(xs), kept

    def fitness(self, finals, cond, prompt):
        if not self.video:
            return self.m.fitness(finals, cond, prompt).cpu()
        return torch.cat([self.m.fitness(f, cond, prompt) for f in finals.split(1)]).cpu()

    def children(self, pool, fitness, k, s):
        """Elites, then tournament winners mutated with Eq. 7 (s = 0) or Eq. 8 (s > 0)."""
        elites = min(self.args.elites, k, len(pool))
        order = torch.argsort(fitness, descending=True)
        out = [pool[j] for j in order[:elites].tolist()]
        draw = max(1, int(len(pool) * self.args.tournament_fraction))
        for _ in range(k - elites):
            entrants = torch.randperm(len(pool), generator=self.generator)[:draw]
            parent = pool[int(entrants[torch.argmax(fitness[entrants])])]
            eps = self.randn(*parent.shape)
            if s == 0:
                out.append(math.sqrt(1 - self.args.beta ** 2) * parent + self.args.beta * eps)
            else:
                out.append(parent + self.s.noise_std(s) * eps)
        return torch.stack(out)

    def search(self, prompt):
        cond, null = self.m.encode(prompt), self.m.encode(self.m.manifest.get("null_prompt", ""))
        archive = {s: ([], []) for s in self.S}  # step -> (states, fitness of their rollouts)
        best = -math.inf
        for g, k in enumerate(self.K):
            start = 0 if g == 0 else self.S[g - 1]
            if g == 0:
                x = self.randn(k, *self.m.latent)
            else:
                states, fits = archive[start]
                x = self.children(states, torch.cat(fits), k, start)
            finals, kept = self.rollout(x, start, set(self.S[g:]), cond, null)
            fit = self.fitness(finals, cond, prompt)
            for s, states in kept.items():
                archive[s][0].extend(states)
                archive[s][1].append(fit)
            best = max(best, fit.max().item())
        return best


def main():
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    modules = Modules(args.bundle, device)
    m = modules.manifest
    flow = m.get("flow", {})
    schedule = FlowSchedule(args.steps, flow.get("shift", 1.0), flow.get("time_scale", 1000.0))
    guidance = args.guidance if args.guidance is not None else m.get("defaults", {}).get("guidance_scale", 1.0)
    loop = OfficialLoop(args, modules, schedule, guidance)
    prompts = read_prompts(args.prompts)
    print(f"official loop: {args.bundle}, {len(prompts)} prompts, T {args.steps}, S {loop.S}, K {loop.K}, "
          f"guidance {guidance}, device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{loop.strategy}", flush=True)
    search_and_report("official-loop", args, modules, loop, prompts, device)


def search_and_report(method, args, modules, loop, prompts, device):
    """Searches every prompt with `loop`, prints (and with --json writes) the timing line, and
    exits non-zero when the NFE differs from --expect-nfe. Shared with python_loop.py."""
    start = time.perf_counter()
    with torch.inference_mode():
        best = [loop.search(p) for p in prompts]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - start
    result = {"method": method, "strategy": loop.strategy, "prompts": len(prompts), "nfe": loop.nfe,
              "denoiser_calls": modules.calls, "wall_seconds": wall,
              "model_seconds": modules.model_seconds if device.type == "cpu" else None,
              "mean_best_reward": sum(best) / len(best)}
    print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.expect_nfe is not None and loop.nfe != args.expect_nfe:
        sys.exit(f"NFE {loop.nfe} differs from the expected {args.expect_nfe}: not a fair comparison")


if __name__ == "__main__":
    main()
