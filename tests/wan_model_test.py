"""models/wan_model.py against the official Wan 2.1 layout, and models/export_wan.py's --weights (ctest WanModel.*).

Run by ctest with Debian's /usr/bin/python3 (python3-torch); exits 77 (ctest: skipped) without torch, except under
CI=true (a failure there, as tests/skip_or_fail.h does for the C++ tests).
  - every state-dict name and shape of WanModel at the 1.3B config (built on the meta device: nothing allocated)
    equals models/wan21_1.3b_params.txt, the list made from the official class (models/wan_official_params.py);
  - random weights in that layout at the tiny config, written as .safetensors (the official checkpoint's format) and
    as a torch.save'd state dict, load through export_wan.py --weights into the exported denoiser, which runs;
  - a checkpoint with a tensor missing, extra or of another shape is refused, naming it;
  - --text-embeddings (the user's umT5 output, each prompt cut to its length) becomes tokens and mask; a prompt's
    embedding of another width or longer than text_len, or no null prompt, is refused naming it;
  - the text mask: rows past the prompt's length do not change the output (the official model zero-pads them),
    rows before it do; the video is the input's shape and the scripted module gives the eager module's numbers;
  - the two attention paths (blocked, F.scaled_dot_product_attention) have the same state dict and give the same
    output within float32 rounding, eager and scripted; on torch 1.13, which has no such op, the SDPA path runs on a
    plain reference put in its place (so the wiring around the op is what is checked there), and asking for it
    without one is refused.
With EVOSEARCH_WAN_SOURCE=<a Wan2.1 checkout> it also runs the official WanModel (flash_attention replaced by plain
attention, since flash-attn needs CUDA) on the same random tiny weights and compares the outputs.
"""
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import unittest
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(os.path.dirname(HERE), "models")

try:
    import torch
except ImportError:
    if os.environ.get("CI") == "true":
        sys.exit("CI=true and python3-torch is unavailable for /usr/bin/python3")
    print("SKIPPED: /usr/bin/python3 has no torch (apt-get install python3-torch)")
    sys.exit(77)

sys.path.insert(0, MODELS)
import export_wan  # noqa: E402
import wan_model  # noqa: E402


def official_list():
    rows = []
    total = None
    with open(os.path.join(MODELS, "wan21_1.3b_params.txt")) as f:
        for line in f:
            if line.startswith("# total "):
                total = int(line.split()[2])
            elif not line.startswith("#"):
                name, shape = line.split()
                rows.append((name, tuple(int(s) for s in shape.split(","))))
    return rows, total


def random_state(config: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    model = wan_model.build(config, device="meta")
    return {k: torch.randn(tuple(v.shape), generator=g) * 0.3 for k, v in model.state_dict().items()}


def export(*args: str):
    """Runs `export_wan.py ARGS` in this process (sparing a torch start per export); its exit message, "" on success."""
    argv = sys.argv
    sys.argv = [os.path.join(MODELS, "export_wan.py"), *args]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            export_wan.main()
        return ""
    except SystemExit as e:
        return str(e) or "exit"
    finally:
        sys.argv = argv


def inputs(batch: int = 2, frames: int = 3, height: int = 8, width: int = 6):
    cfg = wan_model.CONFIGS["tiny"]
    g = torch.Generator().manual_seed(7)
    x = torch.randn(batch, 16, frames, height, width, generator=g)
    t = torch.linspace(999.0, 250.0, batch)
    tokens = torch.randn(batch, cfg["text_len"], cfg["text_dim"], generator=g)
    mask = torch.zeros(batch, cfg["text_len"])
    for i in range(batch):
        mask[i, :3 + 2 * i] = 1
    return x, t, tokens, mask


def reference_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v over [B, heads, L, d]: F.scaled_dot_product_attention's function, for torch 1.13."""
    return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.size(-1)), dim=-1), v)


@contextlib.contextmanager
def sdpa_as(op: Optional[object]):
    """F.scaled_dot_product_attention replaced by `op` (None: removed) for the block; restored after."""
    functional = torch.nn.functional
    had = hasattr(functional, "scaled_dot_product_attention")
    saved = getattr(functional, "scaled_dot_product_attention", None)
    if op is None:
        if had:
            del functional.scaled_dot_product_attention
    else:
        functional.scaled_dot_product_attention = op
    try:
        yield
    finally:
        if had:
            functional.scaled_dot_product_attention = saved
        elif hasattr(functional, "scaled_dot_product_attention"):
            del functional.scaled_dot_product_attention


class Layout(unittest.TestCase):
    def test_every_name_and_shape_matches_the_official_1_3b_list(self):
        expected, total = official_list()
        self.assertEqual(len(expected), 825)
        ours = [(k, tuple(v.shape)) for k, v in wan_model.build("1.3b", device="meta").state_dict().items()]
        self.assertEqual(sorted(ours), sorted(expected))
        self.assertEqual(ours, expected, "same entries, other order")
        self.assertEqual(sum(math.prod(s) for _, s in ours), total)
        self.assertEqual(total, 1418996800)


class Weights(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.suite = os.path.join(self.dir.name, "suite.txt")
        with open(self.suite, "w") as f:
            f.write("a cat\na dog\n")

    def tearDown(self):
        self.dir.cleanup()

    def check_loaded(self, state, weights_file):
        out = os.path.join(self.dir.name, "bundle")
        self.assertEqual(export("--scale", "tiny", "--out", out, "--weights", weights_file,
                                "--random-text-embeddings", self.suite), "")
        denoiser = torch.jit.load(os.path.join(out, "denoiser.pt"))
        loaded = denoiser.state_dict()
        self.assertEqual(sorted(loaded), sorted(state))
        for k, v in state.items():
            self.assertTrue(torch.equal(loaded[k], v), k)
        x, t, tokens, mask = inputs()
        with torch.no_grad():
            y = denoiser(x, t, tokens, mask)
        self.assertEqual(y.shape, x.shape)
        self.assertTrue(torch.isfinite(y).all())
        self.assertGreater(y.abs().mean().item(), 0.01)
        conditions = torch.load(os.path.join(out, "conditions.pt"))
        self.assertEqual(sorted(conditions), ["", "a cat", "a dog"])
        self.assertEqual(conditions["a cat"]["mask"].sum().item(), len("a cat") + 1)

    def test_safetensors_checkpoint_loads_and_runs(self):
        state = random_state("tiny", 1)
        path = os.path.join(self.dir.name, "diffusion_pytorch_model.safetensors")
        export_wan.write_safetensors(state, path)
        self.check_loaded(state, path)

    def test_torch_save_checkpoint_loads_and_runs(self):
        state = random_state("tiny", 2)
        path = os.path.join(self.dir.name, "weights.pt")
        torch.save(state, path)
        self.check_loaded(state, path)

    def test_bf16_safetensors_are_read(self):
        state = {k: v.to(torch.bfloat16) for k, v in random_state("tiny", 3).items()}
        path = os.path.join(self.dir.name, "w.safetensors")
        export_wan.write_safetensors(state, path)
        back = export_wan.read_safetensors(path)
        for k, v in state.items():
            self.assertEqual(back[k].dtype, torch.bfloat16)
            self.assertTrue(torch.equal(back[k], v), k)

    def test_a_checkpoint_that_does_not_fit_is_refused_by_name(self):
        cases = {
            "missing": lambda s: s.pop("blocks.1.cross_attn.norm_k.weight"),
            "unexpected": lambda s: s.__setitem__("img_emb.proj.0.weight", torch.zeros(3)),
            "wrong shape": lambda s: s.__setitem__("head.modulation", torch.zeros(1, 6, 32)),
        }
        names = {"missing": "blocks.1.cross_attn.norm_k.weight", "unexpected": "img_emb.proj.0.weight",
                 "wrong shape": "head.modulation: [1, 6, 32], expected [1, 2, 32]"}
        for what, damage in cases.items():
            state = random_state("tiny", 4)
            damage(state)
            path = os.path.join(self.dir.name, "bad.pt")
            torch.save(state, path)
            with self.assertRaises(SystemExit, msg=what) as refused:
                export_wan.load_weights(wan_model.build("tiny"), path)
            self.assertIn(what, str(refused.exception))
            self.assertIn(names[what], str(refused.exception))


class TextEmbeddings(unittest.TestCase):
    """--text-embeddings: the user's umT5 output per prompt, cut to its length, becomes tokens (rows, then zeros)
    and mask; a file that does not fit is refused naming the prompt."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.dir.name, "bundle")
        self.path = os.path.join(self.dir.name, "umt5.pt")

    def tearDown(self):
        self.dir.cleanup()

    def export(self, embeddings, null_prompt="bad quality"):
        torch.save(embeddings, self.path)
        return export("--scale", "tiny", "--out", self.out, "--text-embeddings", self.path, "--null-prompt", null_prompt)

    def test_rows_become_tokens_and_mask(self):
        g = torch.Generator().manual_seed(9)
        embeddings = {"a cat": torch.randn(3, 24, generator=g), "bad quality": torch.randn(8, 24, generator=g)}
        self.assertEqual(self.export(embeddings), "")
        conditions = torch.load(os.path.join(self.out, "conditions.pt"))
        self.assertEqual(sorted(conditions), ["a cat", "bad quality"])
        cat = conditions["a cat"]
        self.assertTrue(torch.equal(cat["tokens"][:3], embeddings["a cat"]))
        self.assertTrue(torch.equal(cat["tokens"][3:], torch.zeros(5, 24)))
        self.assertEqual(cat["mask"].tolist(), [1, 1, 1, 0, 0, 0, 0, 0])
        self.assertEqual(conditions["bad quality"]["mask"].tolist(), [1] * 8)
        with open(os.path.join(self.out, "manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["null_prompt"], "bad quality")
        self.assertEqual(manifest["conditions"], [{"name": "tokens", "shape": [8, 24]},
                                                  {"name": "mask", "shape": [8]}])

    def test_embeddings_that_do_not_fit_are_refused_naming_the_prompt(self):
        ok = torch.zeros(2, 24)
        cases = [
            ({"a cat": torch.zeros(2, 23), "bad quality": ok}, "'a cat' is [2, 23], expected [1..8, 24]"),
            ({"a cat": torch.zeros(9, 24), "bad quality": ok}, "'a cat' is [9, 24], expected [1..8, 24]"),
            ({"a cat": ok}, "no entry for the null prompt 'bad quality'"),
        ]
        for embeddings, message in cases:
            with self.assertRaises(SystemExit, msg=message) as refused:
                export_wan.condition_parts(embeddings, "bad quality", 8, 24)
            self.assertIn(message, str(refused.exception))


class Forward(unittest.TestCase):
    def setUp(self):
        self.model = wan_model.build("tiny", attention_block=5)
        self.model.load_state_dict(random_state("tiny", 5))
        self.model.eval()

    def test_rows_past_the_prompt_length_are_ignored_and_rows_before_are_not(self):
        x, t, tokens, mask = inputs()
        with torch.no_grad():
            y = self.model(x, t, tokens, mask)
            padded = tokens.clone()
            padded[0, 3:] = 100.0
            padded[1, 5:] = -7.0
            self.assertTrue(torch.equal(self.model(x, t, padded, mask), y))
            real = tokens.clone()
            real[0, 2] += 1.0
            changed = self.model(x, t, real, mask)
        self.assertGreater((changed[0] - y[0]).abs().max().item(), 1e-4)
        self.assertTrue(torch.equal(changed[1], y[1]), "sample 1's prompt did not change")

    def test_the_scripted_module_gives_the_eager_numbers(self):
        x, t, tokens, mask = inputs(batch=3, frames=2, height=4, width=10)
        with torch.no_grad():
            eager = self.model(x, t, tokens, mask)
            scripted = torch.jit.script(self.model)(x, t, tokens, mask)
        self.assertEqual(eager.shape, x.shape)
        self.assertTrue(torch.allclose(eager, scripted, atol=1e-6, rtol=0))

    def test_the_sdpa_path_gives_the_blocked_numbers(self):
        real = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
        with sdpa_as(real or reference_sdpa):
            sdpa = wan_model.build("tiny", attention="sdpa")
            self.assertEqual([(k, v.shape) for k, v in sdpa.state_dict().items()],
                             [(k, v.shape) for k, v in self.model.state_dict().items()])
            sdpa.load_state_dict(self.model.state_dict())
            sdpa.eval()
            x, t, tokens, mask = inputs(batch=2, frames=3, height=6, width=8)
            with torch.no_grad():
                blocked = self.model(x, t, tokens, mask)
                eager = sdpa(x, t, tokens, mask)
                scripted = torch.jit.script(sdpa)(x, t, tokens, mask)
        scale = blocked.abs().max().item()
        self.assertGreater(scale, 0.1)
        self.assertLess((eager - blocked).abs().max().item(), 1e-5 * scale)
        self.assertLess((scripted - blocked).abs().max().item(), 1e-5 * scale)

    def test_sdpa_without_the_op_is_refused(self):
        with sdpa_as(None):
            self.assertEqual(wan_model.default_attention(), "blocked")
            with self.assertRaises(ValueError) as refused:
                wan_model.build("tiny", attention="sdpa")
        self.assertIn("has no F.scaled_dot_product_attention", str(refused.exception))

    def test_export_attention_option_writes_either_path_with_the_same_weights(self):
        with tempfile.TemporaryDirectory() as tmp:
            suite = os.path.join(tmp, "suite.txt")
            with open(suite, "w") as f:
                f.write("a cat\n")
            weights = os.path.join(tmp, "w.pt")
            torch.save(self.model.state_dict(), weights)
            outputs = {}
            real = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
            for kind in ("blocked", "sdpa"):
                out = os.path.join(tmp, kind)
                with sdpa_as(real or reference_sdpa):
                    self.assertEqual(export("--scale", "tiny", "--out", out, "--weights", weights, "--attention", kind,
                                            "--random-text-embeddings", suite), "")
                    with open(os.path.join(out, "manifest.json")) as f:
                        self.assertIn(f"{kind} attention", json.load(f)["description"])
                    x, t, tokens, mask = inputs(batch=2, frames=3, height=6, width=8)
                    with torch.no_grad():
                        outputs[kind] = torch.jit.load(os.path.join(out, "denoiser.pt"))(x, t, tokens, mask)
            scale = outputs["blocked"].abs().max().item()
            self.assertGreater(scale, 0.1)
            self.assertLess((outputs["sdpa"] - outputs["blocked"]).abs().max().item(), 1e-5 * scale)
            with sdpa_as(None):
                refused = export("--scale", "tiny", "--out", os.path.join(tmp, "none"), "--attention", "sdpa",
                                 "--random-text-embeddings", suite)
            self.assertIn("--attention sdpa", refused)
            self.assertIn("has no F.scaled_dot_product_attention", refused)

    def test_the_official_model_gives_the_same_output(self):
        source = os.environ.get("EVOSEARCH_WAN_SOURCE")
        if not source:
            self.skipTest("EVOSEARCH_WAN_SOURCE (a Wan2.1 checkout) not set")
        import wan_official_params
        official_py = wan_official_params.load_official_model_module(source)

        def plain_attention(q, k, v, q_lens=None, k_lens=None, window_size=(-1, -1), **unused):
            s = torch.einsum("blnd,bmnd->bnlm", q.double(), k.double()) / math.sqrt(q.size(-1))
            if k_lens is not None:
                keep = torch.arange(k.size(1))[None, :] < k_lens[:, None]
                s = s.masked_fill(~keep[:, None, None, :], float("-inf"))
            return torch.einsum("bnlm,bmnd->blnd", s.softmax(-1), v.double()).to(q.dtype)

        official_py.flash_attention = plain_attention
        cfg = dict(wan_model.CONFIGS["tiny"])
        official = official_py.WanModel(model_type="t2v", window_size=(-1, -1), **cfg)
        official.load_state_dict(self.model.state_dict(), strict=True)
        x, t, tokens, mask = inputs()
        lengths = mask.sum(1).long().tolist()
        with torch.no_grad():
            ours = self.model(x, t, tokens, mask)
            theirs = torch.stack([official([x[i]], t=t[i:i + 1], context=[tokens[i, :lengths[i]]],
                                           seq_len=x[i, 0].numel() // 4)[0] for i in range(x.size(0))])
        self.assertLess((ours - theirs).abs().max().item(), 1e-4 * max(1.0, theirs.abs().max().item()))


if __name__ == "__main__":
    unittest.main()
