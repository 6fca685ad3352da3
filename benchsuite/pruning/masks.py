"""Mask math on tensors: compression -> keep counts, exact top-k selection, validation."""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor


class MaskError(ValueError):
    """A method returned masks (or weights) that break the contract."""


def keep_count(total: int, prunable: int, compression: float) -> int:
    """Prunable weights to keep so that total / nonzero == compression (ShrinkBench's definition).

    Non-prunable parameters (biases, norms, the classifier) all stay, so the keep count is what is left of the
    nonzero budget round(total / compression) once they are paid for.
    """
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) or not math.isfinite(compression) \
            or compression < 1:
        raise ValueError(f"compression must be a finite number >= 1 (total / nonzero parameters), got {compression!r}")
    fixed = total - prunable
    keep = math.floor(total / compression + 0.5) - fixed
    if keep < 0:
        reachable = total / fixed if fixed else math.inf
        raise ValueError(
            f"compression {compression:g} is unreachable: {fixed:,} of the {total:,} parameters are not prunable, "
            f"so the highest reachable compression is {reachable:.2f}; ask for a lower one"
        )
    return min(keep, prunable)


def layer_keep_counts(sizes: Mapping[str, int], keep: int) -> dict[str, int]:
    """Per-layer keep counts for a uniform fraction keep / sum(sizes): round-half-up(fraction * n), exactly."""
    total = sum(sizes.values())
    return {name: (2 * keep * n + total) // (2 * total) for name, n in sizes.items()}


def rankable(scores: Tensor, where: str) -> Tensor:
    """Scores as selection compares them: detached, in their own precision (half precision widened to float32 and
    integers to float64, both exactly), never narrowed, so that scores beyond float32's range (SynFlow's reach 1e67
    on ResNet-56) keep their order. A NaN or infinite score is an error naming `where`: it has no place in a
    ranking, and an overflow would otherwise turn every score into a tie broken by index."""
    s = scores.detach()
    if not s.is_floating_point():
        s = s.to(torch.float64)
    elif s.dtype in (torch.float16, torch.bfloat16):
        s = s.float()
    finite = torch.isfinite(s)
    if not finite.all():
        bad = s[~finite]
        kinds = [f"{int(n):,} {kind}" for n, kind in ((torch.isnan(bad).sum(), "NaN"), ((bad == math.inf).sum(),
                 "+inf"), ((bad == -math.inf).sum(), "-inf")) if n]
        raise MaskError(f"scores for {where} contain {', '.join(kinds)} (of {s.numel():,}); a method must give every "
                        f"weight a finite score (compute in float64 if they overflow, or rescale them)")
    return s


def common(scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Every layer's scores checked (`rankable`) and in one precision, the widest among them."""
    checked = {name: rankable(s, name) for name, s in scores.items()}
    dtype = torch.float32
    for s in checked.values():
        dtype = torch.promote_types(dtype, s.dtype)
    return {name: s.to(dtype) for name, s in checked.items()}


def _top(flat: Tensor, k: int) -> Tensor:
    """Boolean mask of the k largest entries of checked scores; among entries equal to the k-th largest, the lower
    flat indices are kept. Linear time: a k-th value search, not a sort."""
    if k <= 0 or k >= flat.numel():
        return torch.full_like(flat, k > 0, dtype=torch.bool)
    threshold = flat.kthvalue(flat.numel() - k + 1).values
    mask = flat > threshold
    ties = (flat == threshold).nonzero().squeeze(1)
    mask[ties[: k - int(mask.sum())]] = True
    return mask


def select_global(scores: Mapping[str, Tensor], keep: int) -> dict[str, Tensor]:
    """Keep the `keep` highest scores over all layers together, compared in their own (widest) precision."""
    checked = common(scores)
    flat = torch.cat([s.reshape(-1).cpu() for s in checked.values()])
    chosen = _top(flat, keep).split([s.numel() for s in checked.values()])
    return {name: m.view(s.shape).to(s.device) for (name, s), m in zip(scores.items(), chosen)}


def select_layerwise(scores: Mapping[str, Tensor], counts: Mapping[str, int]) -> dict[str, Tensor]:
    """Keep the counts[name] highest scores inside each layer."""
    return {name: _top(rankable(s, name).reshape(-1), counts[name]).view(s.shape) for name, s in scores.items()}


def below_kept(scores: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The scores with every weight that `masks` prune set just below the lowest score of a kept weight (in the
    scores' precision, still finite), so that a selection of no more than the kept count keeps only kept weights:
    masks stay nested."""
    filled = {name: s.detach().masked_fill(~masks[name].to(s.device), 0) for name, s in scores.items()}  # pruned
    checked = common(filled)  # weights' scores are replaced, so a NaN or inf there (|w| / |g| of a zero) is no error
    kept = [s[masks[name].to(s.device)] for name, s in checked.items()]
    kept = [k for k in kept if k.numel()]
    if not kept:
        return checked
    lowest = min(k.min() for k in kept)
    floor = torch.nextafter(lowest, lowest.new_tensor(-math.inf))
    if not torch.isfinite(floor):
        raise MaskError("scores reach the lowest finite value of their precision, so pruned weights cannot be put "
                        "below them; rescale the scores")
    return {name: s.masked_fill(~masks[name].to(s.device), floor) for name, s in checked.items()}


def select_rows(scores: Mapping[str, Tensor], counts: Mapping[str, int]) -> dict[str, Tensor]:
    """Keep the counts[name] highest scores in every output row (dim 0) of each layer (ties: the earlier weight)."""
    out = {}
    for name, s in scores.items():
        rows = rankable(s, name).reshape(s.shape[0], -1)
        order = torch.argsort(rows, dim=1, descending=True, stable=True)[:, :counts[name]]
        out[name] = torch.zeros_like(rows, dtype=torch.bool).scatter_(1, order, True).view(s.shape)
    return out


def validate_rows(masks: Mapping[str, Tensor], counts: Mapping[str, int], method: str) -> None:
    """Every output row of each layer keeps exactly counts[name]; the error names the layer and the first bad row."""
    for name, mask in masks.items():
        kept = mask.reshape(mask.shape[0], -1).sum(1)
        bad = (kept != counts[name]).nonzero()
        if len(bad):
            row = int(bad[0])
            raise MaskError(f"method {method!r}: mask for {name} keeps {int(kept[row])} weights in output row {row} "
                            f"({len(bad):,} of {len(kept):,} rows are wrong); the target keeps exactly "
                            f"{counts[name]} in every row")


def groupable(shape: torch.Size, m: int) -> bool:
    """Whether a weight of this shape splits into groups of M along its input dimension."""
    return len(shape) >= 2 and shape[1] % m == 0


def groups(t: Tensor, m: int) -> Tensor:
    """A weight-shaped tensor as rows of M consecutive entries along the input dimension: for a Linear weight
    [out, in] along `in`; for a convolution [out, in, kh, kw] along `in` at each kernel position (NVIDIA's 2:4
    layout, as in its ASP library)."""
    return (t.permute(0, 2, 3, 1) if t.dim() == 4 else t).reshape(-1, m)


def ungroup(g: Tensor, shape: torch.Size) -> Tensor:
    """The inverse of `groups`."""
    if len(shape) == 4:
        return g.reshape(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2).contiguous()
    return g.reshape(shape)


def select_nm(scores: Mapping[str, Tensor], n: int, m: int) -> dict[str, Tensor]:
    """Keep the N highest scores in every group of M (ties: the earlier weight); a layer whose input size is not
    a multiple of M is kept whole."""
    out = {}
    for name, s in scores.items():
        if not groupable(s.shape, m):
            out[name] = torch.ones_like(s, dtype=torch.bool)
            continue
        g = groups(rankable(s, name), m)
        order = torch.argsort(g, dim=1, descending=True, stable=True)[:, :n]
        out[name] = ungroup(torch.zeros_like(g, dtype=torch.bool).scatter_(1, order, True), s.shape)
    return out


def validate_groups(masks: Mapping[str, Tensor], n: int, m: int, method: str) -> None:
    """Every group of M of a groupable layer keeps exactly N; the error names the layer and the first bad group."""
    for name, mask in masks.items():
        if not groupable(mask.shape, m):
            continue
        counts = groups(mask, m).sum(1)
        bad = (counts != n).nonzero()
        if len(bad):
            first = int(bad[0])
            shape = mask.shape
            rows = (shape[0], *shape[2:], shape[1] // m)  # the group grid: out, kernel position, input block
            where = [int(i) for i in torch.unravel_index(torch.tensor(first), rows)]
            inputs = f"inputs {where[-1] * m}-{where[-1] * m + m - 1}"
            position = f", kernel position {tuple(where[1:-1])}" if len(shape) == 4 else ""
            raise MaskError(
                f"method {method!r}: mask for {name} keeps {int(counts[first])} of the {m} weights in the group at "
                f"output {where[0]}{position}, {inputs} ({len(bad):,} of {len(counts):,} groups are wrong); the "
                f"{n}:{m} target keeps exactly {n} in every group of {m}")


def validate(
    masks: object,
    shapes: Mapping[str, torch.Size],
    expected: int | Mapping[str, int] | None,
    method: str,
) -> dict[str, Tensor]:
    """Check keys, types, shapes and the exact kept count (a total, one count per layer, or None: the caller
    counts)."""
    if not isinstance(masks, Mapping):
        raise MaskError(f"method {method!r} returned {type(masks).__name__}; return a dict of boolean masks")
    missing, extra = sorted(set(shapes) - set(masks)), sorted(set(masks) - set(shapes))
    if missing or extra:
        raise MaskError(
            f"method {method!r} returned masks for the wrong parameters: missing {missing}, unexpected {extra}; "
            f"return one mask for each prunable parameter"
        )
    for name, shape in shapes.items():
        m = masks[name]
        if not isinstance(m, Tensor) or m.dtype != torch.bool:
            kind = m.dtype if isinstance(m, Tensor) else type(m).__name__
            raise MaskError(f"method {method!r}: mask for {name} is {kind}, not a torch.bool tensor")
        if m.shape != shape:
            raise MaskError(f"method {method!r}: mask for {name} has shape {tuple(m.shape)}, weight is {tuple(shape)}")
    if expected is None:
        return dict(masks)
    if isinstance(expected, Mapping):
        for name, count in expected.items():
            kept = int(masks[name].sum())
            if kept != count:
                raise MaskError(
                    f"method {method!r}: mask for {name} keeps {kept:,} weights, expected exactly {count:,}"
                )
    else:
        kept = sum(int(masks[name].sum()) for name in shapes)
        if kept != expected:
            raise MaskError(f"method {method!r}: masks keep {kept:,} weights in all, expected exactly {expected:,}")
    return dict(masks)


def validate_weights(weights: object, shapes: Mapping[str, torch.Size], method: str) -> dict[str, Tensor]:
    """Check optional new weight values: known prunable names, same shapes, floating point, finite."""
    if not isinstance(weights, Mapping):
        raise MaskError(f"method {method!r} returned weights of type {type(weights).__name__}; return a dict")
    for name, w in weights.items():
        if name not in shapes:
            raise MaskError(f"method {method!r} returned new values for {name!r}, which is not a prunable parameter")
        if not isinstance(w, Tensor) or not w.is_floating_point() or w.shape != shapes[name]:
            raise MaskError(
                f"method {method!r}: new values for {name} must be a float tensor of shape {tuple(shapes[name])}"
            )
        if not torch.isfinite(w).all():
            raise MaskError(f"method {method!r}: new values for {name} contain NaN or inf")
    return dict(weights)
