"""models/make_benchmark_bundle.py: the benchmark bundle is models/wan_model.py's WanModel with Wan's conditioning
(ctest BenchmarkBundle.Python).

Run by ctest with Debian's /usr/bin/python3 (python3-torch); exits 77 (ctest: skipped) without torch, except under
CI=true (a failure there, as tests/skip_or_fail.h does for the C++ tests).
  - --scale full is exactly Wan 2.1 T2V 1.3B: every state-dict name and shape (built on the meta device: nothing
    allocated) equals models/wan21_1.3b_params.txt;
  - --scale tiny writes a version 2 bundle: tokens + mask conditions from the encoder (each prompt's characters,
    an end row, zeros after; the mask counts them), a reward that reads the prompt text; its denoiser is WanModel
    (same state-dict names, the scripted file gives the eager WanModel's numbers); --text / --latent set the
    condition and latent, and values that cannot work are refused naming the option;
  - bench/official_loop.py runs EvoSearch on that bundle, one candidate at a time, with the NFE it counts.
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

try:
    import torch
except ImportError:
    if os.environ.get("CI") == "true":
        sys.exit("CI=true and python3-torch is unavailable for /usr/bin/python3")
    print("SKIPPED: /usr/bin/python3 has no torch (apt-get install python3-torch)")
    sys.exit(77)

sys.path.insert(0, os.path.join(ROOT, "models"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import make_benchmark_bundle  # noqa: E402
import official_loop  # noqa: E402
import wan_model  # noqa: E402
from wan_model_test import official_list  # noqa: E402


def make(*args: str):
    """Runs `make_benchmark_bundle.py ARGS` in this process; its exit message, "" on success."""
    argv = sys.argv
    sys.argv = [os.path.join(ROOT, "models", "make_benchmark_bundle.py"), *args]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            make_benchmark_bundle.main()
        return ""
    except SystemExit as e:
        return str(e) or "exit"
    finally:
        sys.argv = argv


class FullScale(unittest.TestCase):
    def test_full_scale_is_the_official_1_3b_layout(self):
        cfg, latent = make_benchmark_bundle.config_for(argparse.Namespace(scale="full", latent=None, text=None))
        self.assertEqual(latent, (9, 104, 60))
        expected, _ = official_list()
        model = wan_model.WanModel(**cfg, device="meta")
        self.assertEqual([(k, tuple(v.shape)) for k, v in model.state_dict().items()], expected)


class TinyBundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.dir.name, "tiny")
        assert make("--scale", "tiny", "--out", cls.out) == ""
        with open(os.path.join(cls.out, "manifest.json")) as f:
            cls.manifest = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_the_manifest_is_version_2_with_a_prompt_text_reward(self):
        m = self.manifest
        self.assertEqual(m["conditions"], [{"name": "tokens", "shape": [16, 64]}, {"name": "mask", "shape": [16]}])
        self.assertNotIn("condition_dim", m)
        self.assertEqual(m["encoder"], "encoder.pt")
        self.assertEqual(m["latent_shape"], [16, 3, 16, 16])
        self.assertEqual([(r["input"], r["guidance"]) for r in m["rewards"]], [("PROMPT_TEXT", True)])

    def test_the_encoder_gives_tokens_and_their_mask(self):
        encoder = torch.jit.load(os.path.join(self.out, "encoder.pt"))
        out = encoder(["a cat", "", "x" * 40])
        self.assertEqual(sorted(out), ["mask", "tokens"])
        self.assertEqual(out["tokens"].shape, (3, 16, 64))
        self.assertEqual(out["mask"].sum(1).tolist(), [6, 1, 16])  # characters + the end row, at most text_len
        self.assertTrue(torch.equal(out["mask"][0], (torch.arange(16) < 6).float()))
        self.assertTrue(torch.equal(out["tokens"][0, 6:], torch.zeros(10, 64)))
        self.assertGreater(out["tokens"][0, :6].abs().min(dim=1).values.min().item(), 0)
        self.assertTrue(torch.equal(out["tokens"][0, 0], out["tokens"][0, 3]), "'a' twice, the same row")
        self.assertTrue(torch.equal(out["tokens"][1, 0], out["tokens"][0, 5]), "the end row")

    def test_the_denoiser_is_wan_model(self):
        denoiser = torch.jit.load(os.path.join(self.out, "denoiser.pt"))
        eager = wan_model.WanModel(**make_benchmark_bundle.TINY, attention_block=5)
        self.assertEqual(sorted(denoiser.state_dict()), sorted(eager.state_dict()))
        eager.load_state_dict(denoiser.state_dict())
        eager.eval()
        g = torch.Generator().manual_seed(3)
        x = torch.randn(2, 16, 3, 16, 16, generator=g)
        t = torch.tensor([990.0, 200.0])
        tokens = torch.randn(2, 16, 64, generator=g)
        mask = (torch.arange(16)[None, :] < torch.tensor([[4], [9]])).float()
        with torch.no_grad():
            ours, theirs = denoiser(x, t, tokens, mask), eager(x, t, tokens, mask)
        self.assertGreater(ours.abs().mean().item(), 1e-3)
        self.assertTrue(torch.allclose(ours, theirs, atol=1e-5, rtol=0))

    def test_text_and_latent_options(self):
        out = os.path.join(self.dir.name, "wide")
        self.assertEqual(make("--scale", "tiny", "--text", "32,24", "--latent", "2,8,6", "--out", out), "")
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual(m["conditions"], [{"name": "tokens", "shape": [32, 24]}, {"name": "mask", "shape": [32]}])
        self.assertEqual(m["latent_shape"], [16, 2, 8, 6])
        self.assertIn("--latent 3,15,16", make("--scale", "tiny", "--latent", "3,15,16", "--out", out))
        self.assertIn("--text 0,64", make("--scale", "tiny", "--text", "0,64", "--out", out))
        self.assertIn("--scale 2", make("--scale", "2", "--out", out))

    def test_the_official_loop_runs_it(self):
        args = argparse.Namespace(evolution_steps="1,3", population="3,2,2", elites=1, tournament_fraction=0.9,
                                  beta=0.3, strategy="auto", seed=1)
        modules = official_loop.Modules(self.out, torch.device("cpu"))
        schedule = official_loop.FlowSchedule(4, 5.0, 1000.0)
        loop = official_loop.OfficialLoop(args, modules, schedule, 5.0)
        self.assertTrue(loop.video)
        with torch.inference_mode():
            best = loop.search("a red car")
        self.assertEqual(loop.nfe, 3 * 4 + 2 * 3 + 2 * 1)
        self.assertEqual(modules.calls, 2 * loop.nfe)  # a CFG pair is two calls of batch 1
        self.assertTrue(-1.0 <= best < 0.0)


if __name__ == "__main__":
    unittest.main()
