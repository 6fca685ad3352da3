"""SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot"):
prune each layer and update its remaining weights to reconstruct its outputs on the calibration data."""
from __future__ import annotations

import torch

from benchsuite import register_method
from benchsuite.pruning.masks import groupable


def _bottom(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the k smallest scores (ties: the earlier ones)."""
    out = torch.zeros(scores.numel(), dtype=torch.bool)
    out[torch.argsort(scores.flatten(), stable=True)[:k]] = True
    return out.view(scores.shape)


def prune_layer(w: torch.Tensor, h: torch.Tensor, sparsity: float | None, nm: tuple[int, int] | None,
                blocksize: int = 128, percdamp: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept mask, new weight) of one linear layer `w` (out, in) with Hessian `h` (in, in): the reference's
    fasterprune. Columns are processed in blocks of `blocksize`; within a block, the weights of smallest
    w^2 / [H^-1]_jj^2 are pruned (int(s * n) of the layer's n over all its blocks, or N:M kept in each group of M)
    and the error of each pruned column is spread over the columns not yet processed; dampening adds `percdamp` of
    the mean diagonal to H."""
    w, h = w.detach().clone().double(), h.detach().clone().double()
    rows, cols = w.shape
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * torch.diag(h).mean() * torch.eye(cols, dtype=h.dtype)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    pruned = torch.zeros_like(w, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        w1, h1 = w[:, i1:i2].clone(), hinv[i1:i2, i1:i2]
        q1, err1 = torch.zeros_like(w1), torch.zeros_like(w1)
        if nm is None:  # this block's share of the layer's exact count
            count = int(sparsity * (rows * i2)) - int(sparsity * (rows * i1))
            mask1 = _bottom(w1 ** 2 / torch.diag(h1)[None] ** 2, count)
        else:
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                score = w1[:, i:i + nm[1]] ** 2 / torch.diag(h1)[None, i:i + nm[1]] ** 2
                drop = torch.argsort(score, dim=1, stable=True)[:, :nm[1] - nm[0]]
                mask1[:, i:i + nm[1]].scatter_(1, drop, True)
            q = w1[:, i].clone()
            q[mask1[:, i]] = 0
            q1[:, i] = q
            err1[:, i] = (w1[:, i] - q) / h1[i, i]
            w1[:, i:] -= err1[:, i:i + 1] @ h1[i:i + 1, i:]
        w[:, i1:i2], pruned[:, i1:i2] = q1, mask1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return ~pruned, w


@register_method("sparsegpt", target=("layer", "nm"), stage="post_training")
def sparsegpt(ctx, *, blocksize: int = 128, percdamp: float = 0.01):
    """Prune every linear layer of a block with the OBS reconstruction of SparseGPT's reference code: H = 2 X^T X
    from the layer's calibration inputs (the block's inputs before it is pruned), 1% dampening, the upper Cholesky
    factor of H^-1, blocks of 128 columns with lazy updates, the mask chosen per block by w^2 / [H^-1]_jj^2 or within
    every group of M (N:M). Returns the masks and the updated weights. Computed in float64 (the reference: float32).

    Differs, unstructured: the reference prunes every weight of a block whose score is at or below the block's
    int(s * n_block)-th smallest (0-based; `tmp <= thresh`): int(s * n_block) + 1 per block of n_block weights, and
    every tie at the threshold. Here each block prunes its share of the layer's exact int(s * n) (int(s * n_end) -
    int(s * n_start), counting the layer's weights up to the block's end and start), so that every layer's count is
    exact and the same as every other method's: about one weight fewer per block; ties go to the earlier weight."""
    target, masks, weights = ctx.target, {}, {}
    for name, w in ctx.weights.items():
        if target.pattern and not groupable(w.shape, target.pattern[1]):
            masks[name] = torch.ones_like(w, dtype=torch.bool)
            continue
        keep, new = prune_layer(w.cpu(), ctx.hessians[name].cpu(), target.sparsity, target.pattern, blocksize,
                                percdamp)
        masks[name], weights[name] = keep.to(w.device), new.to(w)
    return masks, weights
