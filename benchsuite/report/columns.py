"""What every column of a leaderboard's `results.csv` holds: the reference page of the docs is generated from this
table, and a test checks that it names every column the committed leaderboards have, and no other."""
from __future__ import annotations

CASE = {
    "hash": "the case's hash: everything that decides its result (pair and recipe, dense model, harness code, "
            "method name, stage, hyperparameters and module fingerprint, compression, budget, seed, schema)",
    "schema": "version of the result format",
    "suite_version": "benchsuite's version",
    "method_version": "fingerprint of the method's module (and the modules it declares in `depends`)",
    "torch": "torch version that computed the case",
    "pair": "dataset-model pair",
    "weights": "name of the dense starting model (a recipe such as `A`, or a `--checkpoint` file)",
    "method": "registered method name",
    "stage": "`after_training`, `at_init`, `during_training` or `post_training`",
    "target": "what the masks must hit: `global`, `layer`, `nm`, `channel`, `channel_global`, `erk`, `er`, "
              "`uniform+`, `row`; or what a structured method removes from a language model: `blocks`, `width`",
    "hyperparameters": "the settings that differ from the method's defaults (`{}` when none)",
    "budget": "retraining budget: empty for the stage's own, `full` (the dense recipe's length) or `like-imp_lr` "
              "(as long as `imp_lr` trains in all at this compression)",
    "compression": "requested compression: total / nonzero parameters (for an N:M or channel pattern, the ratio it "
                   "stands for; for a language model, the sparsity or pattern asked)",
    "pattern": "the N:M (`2:4`) or channel (`ch-x2`) pattern asked, empty for a ratio",
    "dense_layers": "layers left dense because the target cannot apply to them, with the reason",
    "tied_rankings": "selections that cut through scores all equal (over the model, or in a layer): decided by "
                     "index, not by the method",
    "seed": "the case's seed: pruning batch, anything the method draws, training data order",
    "weights_sha256": "sha256 of the dense model's file",
    "row": "the case's leaderboard row (`nm_magnitude 2:4`, `global_magnitude [full]`)",
    "checksum": "sha256 of the stored result's content, checked on every read",
    "row_checksum": "sha256 of this row's values as written: an edited row is refused as a reference",
}
ACCURACY = {
    "dense_top1": "test top-1 of the dense starting model (fraction)",
    "dense_top5": "test top-5 of the dense starting model",
    "num_classes": "classes of the dataset (chance level is 1 / num_classes)",
    "top1": "test top-1 of the final model (fraction, exact: correct / n_test)",
    "top5": "test top-5 of the final model",
    "loss": "mean cross-entropy of the final model on the test split",
    "correct1": "test images the final model classifies right",
    "n_test": "images in the test split",
    "test_correct": "which test images the final model got right: a base64 bitset in split order (paired tests)",
    "val_top1": "validation top-1 of the final model (what the regression check decides on)",
    "n_val": "images in the validation split",
    "val_correct": "which validation images the final model got right (base64 bitset)",
    "top1_after_pruning": "test top-1 right after the (last) pruning, before the training that follows",
    "top5_after_pruning": "test top-5 right after the (last) pruning",
    "prune_events": "how many times the method was called (1 for one-shot, the events of its schedule otherwise)",
}
SIZE = {
    "params": "all parameters of the model",
    "nonzero_params": "nonzero parameters after pruning",
    "compression_achieved": "params / nonzero_params",
    "flops": "dense FLOPs of one input (FlopCounterMode: 2 per multiply-accumulate)",
    "nonzero_flops": "FLOPs left: each layer's dense FLOPs times its density",
    "speedup": "theoretical speedup: flops / nonzero_flops",
    "compact_params": "parameters of the compacted model (channel targets; empty otherwise)",
    "compact_flops": "FLOPs of the compacted model (channel targets; empty otherwise)",
    "density:LAYER": "fraction of LAYER's weights kept (one column per prunable layer)",
}
COST = {
    "train_images": "training images consumed from a random initialisation: dense run (if the method starts from "
                    "it), every fine-tuning and every level (empty for a checkpoint of unknown history)",
    "train_epochs": "train_images / training-split size",
    "train_seconds": "wall seconds of the case's training on the machine that computed it",
    "prune_seconds": "median seconds of the pruning step (method and mask checks; for a language model, the "
                     "block-by-block pass with its calibration forward passes)",
    "prune_timer": "what timed it: `pytest-benchmark`, or `perf_counter` under xdist or --benchmark-disable",
}
SPEED = {
    "latency": "the whole latency record: device, threads, every form's rounds and quartiles, skipped forms with "
               "their reasons",
    "latency_ms": "fastest form's latency at batch 1 (ms, fastest of 21 interleaved rounds)",
    "dense_latency_ms": "the dense model's latency at batch 1 (ms), measured beside it",
    "measured_speedup": "dense_latency_ms / latency_ms",
    "latency_form": "the fastest form at batch 1: `masked`, `compact` or `csr`",
    "latency_ms_b64": "as latency_ms, at batch 64",
    "dense_latency_ms_b64": "as dense_latency_ms, at batch 64",
    "measured_speedup_b64": "as measured_speedup, at batch 64",
    "latency_form_b64": "as latency_form, at batch 64",
}
LANGUAGE = {
    "sparsity": "requested sparsity of the prunable weights (1 - 1 / compression); for a structured method, the "
                "share its target removes, round(share x L) / L of L decoder layers",
    "sparsity_achieved": "fraction of the prunable weights that are zero (for a structured method: gone)",
    "dense_params": "all parameters of the dense model",
    "blocks_removed": "the decoder layers a structured method removed (target `blocks`), by index in the dense model",
    "groups_kept": "key-value groups (a key-value head with its query heads) each decoder layer kept (target `width`)",
    "channels_kept": "MLP channels each decoder layer kept (target `width`)",
    "prunable_params": "weights of the prunable linear layers of every block",
    "text": "the scored text (`lee`, `wikitext2`)",
    "calibration_text": "the text the calibration sequences are drawn from (`lee`, `c4`)",
    "calibration_sequences": "calibration sequences drawn",
    "sequence_length": "tokens per calibration sequence and per scored chunk",
    "calibration_seed": "seed of the calibration draw (the case's seed)",
    "eval_chunks": "held-out chunks scored",
    "eval_tokens": "tokens predicted over those chunks",
    "perplexity": "exp(summed next-token loss / eval_tokens) of the pruned model",
    "dense_perplexity": "the same for the dense model",
    "chunk_nll": "each chunk's summed loss (float64) of the pruned model, for paired tests",
    "dense_chunk_nll": "the same for the dense model",
    "eval_seconds": "seconds to score the held-out chunks",
    "generation": "the whole speed record: device, threads, prompt and decoded tokens, each model's prefill time and "
                  "decode time per token in every round",
    "prefill_speedup": "the dense model's prefill time (512 tokens, batch 1) over the pruned model's, each the fastest "
                       "of its interleaved rounds",
    "decode_speedup": "the pruned model's decode speed (tokens/s over 64 greedy tokens with the KV cache) over the "
                      "dense model's",
    "transformers": "transformers version that ran the model",
}
GROUPS = {"The case": CASE, "Accuracy": ACCURACY, "Size and FLOPs": SIZE, "Training and pruning cost": COST,
          "Measured speed": SPEED, "Language models": LANGUAGE}
COLUMNS = {name: text for group in GROUPS.values() for name, text in group.items()}


def described(column: str) -> bool:
    """Whether the table describes `column` (per-layer densities by their pattern)."""
    return column in COLUMNS or column.startswith("density:")
