"""Bad input, hostile methods and broken files, a row each: the error type and the words its message must hold, or
the correct result. Nothing may end in a silent wrong number or a raw traceback. (Broken reference files of the
regression check: tests/test_regression.py and tests/test_gate.py.)"""
from __future__ import annotations

import copy
import json
import shutil

import gguf
import pytest
import torch
from datafiles import method_package, tiny_lm, write_gguf
from torch import nn

import benchsuite as bs
from benchsuite.contract.masks import SmallNet
from benchsuite.data import load_dataset
from benchsuite.files import sha256
from benchsuite.models.causal import load_causal_lm
from benchsuite.models.gguf import gguf_tokenizer
from benchsuite.plan.pairs import WeightsFile, get_pair
from benchsuite.pruning.context import Context, call_method, target_for
from benchsuite.pruning.masks import MaskError
from benchsuite.pruning.methods import Method
from benchsuite.run import weights as weights_module
from benchsuite.run.weights import check_checkpoint, load_weights

pytest_plugins = ["pytester"]


def batch(n=8, shape=(1, 28, 28)):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def lenet300():
    torch.manual_seed(0)
    return bs.get_model("lenet300")


class Tied(nn.Module):
    """Two hidden layers sharing one weight (a weight-shared layer), then a classifier."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(20, 20), nn.Linear(20, 20), nn.Linear(20, 10)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.out(self.b(self.a(x.flatten(1)).relu()).relu())


class TiedHead(nn.Module):
    """A hidden layer whose weight is the classifier's (tied input and output, as a tied embedding and head)."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = nn.Linear(10, 10, bias=False), nn.Linear(10, 10), nn.Linear(10, 10)
        self.inp.weight = self.out.weight

    def forward(self, x):
        return self.out(self.hidden(self.inp(x.flatten(1)).relu()).relu())


def run_method(fn, target="global", model=None):
    model = model or lenet300()
    ctx = Context(model, target_for(model, target, 4), batch(), torch.Generator().manual_seed(0))
    return call_method(Method("hostile", fn, target), ctx)


API = [  # (what, call, error type or None, words or a check of the result)
    ("tied layers: the shared weight counts once and gets one mask", lambda: bs.prune(Tied(), "global_magnitude", 2,
                                                                                       batch(4, (20,))),
     None, lambda masks: list(masks) == ["a.weight"]),
    ("tied with the classifier: the shared weight stays whole", lambda: bs.prune(TiedHead(), "random", 1.5,
                                                                                  batch(4, (10,))),
     None, lambda masks: list(masks) == ["hidden.weight"]),
    ("integer masks of 0 and 2", lambda: bs.apply_masks(lenet300(), {"fc1.weight": torch.full((300, 784), 2)}),
     ValueError, "holds values other than 0 and 1"),
    ("float masks of 0.5", lambda: bs.apply_masks(lenet300(), {"fc1.weight": torch.full((300, 784), 0.5)}),
     ValueError, "pass a torch.bool tensor"),
    ("masks of 0 and 1 as integers", lambda: bs.apply_masks(lenet300(), {"fc1.weight": torch.ones(300, 784).long()}),
     None, lambda out: out is None),
    ("snip with an empty pruning batch", lambda: bs.prune(lenet300(), "snip", 4, batch(0)), ValueError,
     "at least one example"),
    ("grasp with an empty pruning batch", lambda: bs.prune(lenet300(), "grasp", 4, batch(0)), ValueError,
     "at least one example"),
    ("scores all +inf", lambda: run_method(lambda ctx: ctx.select_global({n: w * 0 + float("inf")
                                                                         for n, w in ctx.weights.items()})),
     MaskError, "method 'hostile': scores for fc1.weight contain 235,200 \\+inf"),
    ("scores all -inf", lambda: run_method(lambda ctx: ctx.select_global({n: w * 0 - float("inf")
                                                                         for n, w in ctx.weights.items()})),
     MaskError, "method 'hostile': scores for fc1.weight contain 235,200 -inf"),
    ("scores NaN", lambda: run_method(lambda ctx: ctx.select_global({n: w * float("nan")
                                                                    for n, w in ctx.weights.items()})),
     MaskError, "method 'hostile': scores for fc1.weight contain 235,200 NaN"),
    ("scores all equal: flagged", lambda: run_method(lambda ctx: ctx.select_global({n: torch.ones_like(w)
                                                                                   for n, w in ctx.weights.items()})),
     None, lambda masks: masks.tied == ["the model"]),
    ("a layer whose scores are all equal: flagged", lambda: run_method(
        lambda ctx: ctx.select_layerwise({n: torch.ones_like(w) if n == "fc2.weight" else w.abs()
                                          for n, w in ctx.weights.items()}), "layer"),
     None, lambda masks: masks.tied == ["fc2.weight"]),
    ("compression=True", lambda: bs.prune(lenet300(), "global_magnitude", True, batch()), ValueError,
     "compression must be a finite number"),
    *[(f"{m} on a {dtype} model with a float32 batch",
       (lambda m=m, dtype=dtype: bs.prune(lenet300().to(dtype), m, 4, batch())), None,
       lambda masks: sum(int(v.sum()) for v in masks.values()) > 0)
      for m in ("global_gradient", "layer_activation", "snip", "grasp") for dtype in (torch.float16, torch.bfloat16)],
    *[(f"{m} on a half-precision model", (lambda m=m: bs.prune(SmallNet().half(), m, "ch-x2", batch(8))), None,
       lambda masks: len(masks) > 0) for m in ("l1_filter", "group_l1")],
    ("a gradient method on a model whose parameters are frozen",
     lambda: bs.prune(lenet300().requires_grad_(False), "global_gradient", 4, batch()), None,
     lambda masks: sum(int(v.sum()) for v in masks.values()) > 0),
    ("an at-init method with batch=None", lambda: bs.prune(lenet300(), "snip", 4, None), ValueError,
     "the pruning batch must be \\(inputs, labels\\), two tensors"),
    ("an at-init method with batch=(x,)", lambda: bs.prune(lenet300(), "synflow", 4, (batch()[0],)), ValueError,
     "the pruning batch must be \\(inputs, labels\\)"),
    ("synflow with iterations=0", lambda: bs.prune(lenet300(), "synflow", 4, batch(), iterations=0), ValueError,
     "iterations must be at least 1"),
    ("synflow with iterations='x'", lambda: bs.prune(lenet300(), "synflow", 4, batch(), iterations="x"), ValueError,
     "hyperparameter iterations takes a int \\(its default is 100\\), got 'x'"),
    ("method name None", lambda: bs.prune(lenet300(), None, 4, batch()), TypeError, "a method is named by a string"),
    ("wanda with no calibration tokens", lambda: bs.prune(tiny_lm(), "wanda", "50%", None), ValueError,
     "prunes a language model from calibration token ids"),
    ("a model that is only a classifier", lambda: bs.prune(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
                                                           "global_magnitude", 1, batch()),
     ValueError, "has no prunable layer"),
]


@pytest.mark.parametrize("what, call, error, expect", API, ids=[row[0] for row in API])
def test_the_api(what, call, error, expect):
    if error is None:
        assert expect(call())
    else:
        with pytest.raises(error, match=expect):
            call()


def test_tied_layers_keep_exact_compression_and_apply_masks_takes_what_prune_returned():
    model = Tied()
    total = sum(p.numel() for p in model.parameters())  # the shared weight once
    for method, compression in (("global_magnitude", 2.5), ("layer_magnitude", 2), ("random", 1.5)):
        masks = bs.prune(model, method, compression, batch(4, (20,)))
        pruned = copy.deepcopy(model)
        bs.apply_masks(pruned, masks)
        nonzero = sum(int(p.count_nonzero()) for p in pruned.parameters())
        assert abs(total / nonzero - compression) < 0.05 * compression, method
        assert torch.equal(pruned.a.weight, pruned.b.weight)
    head = TiedHead()
    masks = bs.prune(head, "global_magnitude", 1.5, batch(4, (10,)))
    bs.apply_masks(head, masks)
    assert head.out.weight.count_nonzero() == 100  # the classifier, tied to the input layer, stays whole


def test_a_checkpoint_is_checked_before_anything_runs(tmp_path):
    pair = get_pair("mnist5k-lenet300")

    def check(path):
        trial = copy.copy(pair)
        object.__setattr__(trial, "weights", {"mine": WeightsFile(str(path), sha256(path))})
        check_checkpoint(trial, "mine", 10)

    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    whole = tmp_path / "whole.pt"
    torch.save(lenet300(), whole)
    nans = tmp_path / "nan.pt"
    state = lenet300().state_dict()
    state["fc2.weight"][0, 0] = float("nan")
    torch.save(state, nans)
    for path, words in ((text, "is not a state_dict that torch.load\\(weights_only=True\\) can read"),
                        (whole, "is not a state_dict that torch.load\\(weights_only=True\\) can read"),
                        (nans, "holds NaN or infinite values in fc2.weight")):
        with pytest.raises(ValueError, match=f"checkpoint {path} \\(weights 'mine' of pair 'mnist5k-lenet300'\\) "
                                             f"{words}"):
            check(path)


@pytest.fixture
def good_gguf(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, tiny_lm())
    return path


@pytest.mark.parametrize("damage", ["truncated", "header only", "text", "no metadata"])
def test_a_broken_gguf_file_is_named(good_gguf, tmp_path, damage):
    path = tmp_path / "broken.gguf"
    data = good_gguf.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "header only":
        path.write_bytes(data[:24])
    elif damage == "text":
        path.write_text("just some words\n")
    else:
        w = gguf.GGUFWriter(str(path), "llama")  # a Llama GGUF with its tensors but none of its hyperparameters
        w.add_tensor("token_embd.weight", torch.zeros(4, 4).numpy())
        w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    words = ("a GGUF file without its model's sizes \\(llama.block_count, llama.embedding_length"
             if damage == "no metadata" else "not a readable GGUF file")
    for read in (load_causal_lm, gguf_tokenizer):  # not transformers' default 7B-parameter Llama: memory runs out
        with pytest.raises(ValueError, match=f"{path}: {words}"):
            read(path)


def test_a_damaged_dense_model_sidecar_is_named(tmp_path):
    pair = get_pair("mnist5k-lenet300")
    load_weights(pair, "A", tmp_path, load_dataset("mnist5k"))
    meta = next(tmp_path.glob("*-A-*.json"))
    meta.write_text("{garbage")
    with pytest.raises(ValueError, match=f"{meta} is damaged .* delete it .* to measure the dense model again"):
        load_weights(pair, "A", tmp_path, load_dataset("mnist5k"))


def test_removing_the_store_while_a_dense_model_trains_loses_nothing(tmp_path, monkeypatch):
    real = weights_module.fit

    def fit_then_remove(model, data, recipe, generator, **kwargs):
        shutil.rmtree(tmp_path / "cache")
        return real(model, data, recipe, generator, **kwargs)

    monkeypatch.setattr(weights_module, "fit", fit_then_remove)
    pair = get_pair("mnist5k-lenet300")
    ckpt = load_weights(pair, "A", tmp_path / "cache", load_dataset("mnist5k"))
    assert ckpt.info["init_sha256"] and (tmp_path / "cache").is_dir()


HOSTILE = '''
import time

import torch

from benchsuite import register_method


@register_method("jittery")
def jittery(ctx):
    """Draws from torch's global generator, not ctx.generator: other masks from the same seed."""
    return ctx.select_global({n: torch.rand(w.shape) for n, w in ctx.weights.items()})


@register_method("editor")
def editor(ctx):
    """Edits the model it is given."""
    with torch.no_grad():
        next(ctx.model.parameters()).mul_(2)
    return ctx.select_global({n: w.abs() for n, w in ctx.weights.items()})


@register_method("sleeper")
def sleeper(ctx):
    """Hangs."""
    time.sleep(3600)
    return ctx.select_global({n: w.abs() for n, w in ctx.weights.items()})
'''


def test_hostile_methods_fail_alone_with_their_reason(pytester, monkeypatch, dense):
    dense("bench")
    site = pytester.path / "site"
    site.mkdir()
    (site / "hostile.py").write_text(HOSTILE)
    pytester.makeconftest("import hostile  # noqa: F401\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    pytester.makepyfile(test_benchsuite="from benchsuite.testing import TestContract  # noqa: F401\n"
                                        "from benchsuite.testing import test_case  # noqa: F401\n")
    contract = pytester.runpytest_subprocess("--methods", "jittery,editor", "--contract-only", "-k",
                                             "same_seed or unchanged", "--sweep", "smoke")
    contract.stdout.fnmatch_lines(["*method 'jittery' chose other masks for * from the same seed; draw only from "
                                   "ctx.generator*"])
    contract.stdout.fnmatch_lines(["*method 'editor' changed the model in place: conv*.weight*"])
    sweep = pytester.runpytest_subprocess("--sweep", "smoke", "--methods", "sleeper,global_magnitude", "--sweep-only",
                                          "--case-timeout", "20", "--bench-dir", "bench")
    sweep.assert_outcomes(passed=1, failed=1)
    sweep.stdout.fnmatch_lines(["*sleeper-mnist5k-lenet300-A-x4-s0: FAILED*", "*Timeout (>20.0s) from pytest-timeout*"])


OPTIONS = [  # (arguments, the lines of the one usage error)
    (("--sweep", "smoke", "--seeds=a"), ["ERROR: --seeds 'a': comma-separated int values, e.g. 0,1,2"]),
    (("--sweep", "smoke", "--device=gpu"), ["ERROR: --device gpu: use cpu, cuda or cuda:N*"]),
    (("--sweep", "paper", "--pairs", "cifar10-*"), ["ERROR: the selected cases cannot run:",
                                                    "  cifar10, for pair cifar10-*: missing a data root for 'cifar10'*"]),
]


@pytest.mark.parametrize("args, words", OPTIONS, ids=[" ".join(a) for a, _ in OPTIONS])
def test_a_bad_option_stops_the_session_with_one_clear_error(pytester, monkeypatch, args, words):
    monkeypatch.delenv("BENCHSUITE_DATA", raising=False)
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str()
    result.stderr.fnmatch_lines(words)


def test_a_broken_checkpoint_stops_the_session_once_with_one_message(pytester):
    path = pytester.path / "mine.pt"
    state = lenet300().state_dict()
    state["fc1.weight"][:] = float("nan")
    torch.save(state, path)
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    result = pytester.runpytest_subprocess("--sweep", "smoke", "--checkpoint",
                                           f"mnist5k-lenet300:mine={path}@{sha256(path)}", "--bench-dir", "bench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "Traceback" not in result.stderr.str()
    result.stderr.fnmatch_lines(["ERROR: the selected cases cannot run:", f"*checkpoint {path} (weights 'mine' of pair "
                                 f"'mnist5k-lenet300') holds NaN or infinite values in fc1.weight"])
    assert not (pytester.path / "bench" / "results").exists()  # nothing ran


def test_the_json_of_a_result_store_is_not_trusted_either(tmp_path):
    """A garbled stored result is named in a warning and computed again (tests/test_end_to_end.py runs it); here:
    the warning's words."""
    from benchsuite.run.store import DamagedResult, Store

    (tmp_path / "x.json").write_text(json.dumps({"hash": "x"}))
    with pytest.warns(DamagedResult, match="result file .*x.json is damaged"):
        assert Store(tmp_path).get("x") is None


def test_a_method_package_that_does_not_import_stops_the_session_naming_its_entry_point_and_line(pytester,
                                                                                              monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(method_package(pytester.path, "import torch\nundefined_name\n")))
    result = pytester.runpytest_subprocess("test_benchsuite.py", "--sweep", "smoke")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "Traceback" not in result.stderr.str()
    result.stderr.fnmatch_lines(["ERROR: the 'benchsuite.methods' entry point mine = 'mymethods' of package mymethods "
                                 "cannot be loaded (NameError: name 'undefined_name' is not defined at *mymethods.py:2)*"])
