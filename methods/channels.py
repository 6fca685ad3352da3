"""Channel pruning: whole output channels, with everything that belongs to them, removed from the network."""
import torch

from benchsuite import register_method


def _filter_l1(ctx, group):
    """Per channel, the L1 norm of its filters summed over the group's layers (several where a residual add joins
    them)."""
    score = torch.zeros(group.size)
    for layer, rows in group.rows.items():
        score[list(rows.channel)] += ctx.weights[layer].abs().flatten(1).sum(1).cpu()[list(rows.index)]
    return score


@register_method("l1_filter", target="channel")
def l1_filter(ctx):
    """Keep the channels whose filters have the largest L1 norm, the same fraction of every channel group (Li et al.
    2017, "Pruning Filters for Efficient ConvNets": sum of |w| of each filter, smallest pruned, layer by layer).
    The paper prunes each layer by its own sensitivity-tuned ratio and, in its CIFAR ResNets, only the first layer of
    each residual block; here every group keeps round(C / r) channels, the residual ones included. Where a residual
    add joins layers (torchvision's ResNets; the CIFAR ResNets, whose residual channels chain through the
    zero-padded shortcuts from stage to stage), their filters' norms are summed."""
    return ctx.select_channels([_filter_l1(ctx, g) for g in ctx.target.groups])


@register_method("group_l1", target="channel_global")
def group_l1(ctx):
    """Keep the channels of largest group L1 norm over the whole network (Fang et al. 2023, "DepGraph", as its
    GroupMagnitudeImportance(p=1) with mean reduction and mean normalisation in Torch-Pruning's benchmarks): a
    channel's score is the mean, over the weights of its group (filters, BatchNorm scales, the inputs of the layers
    that read it), of the L1 norm of its slice, divided by the group's mean score, so that groups of different size
    and scale compete; biases are left out, as in Torch-Pruning's default."""
    params = dict(ctx.model.named_parameters())
    scores = []
    for g in ctx.target.groups:
        parts = []
        for m in g.members:
            if not m.param.endswith("weight"):
                continue
            w = params[m.param].detach().abs().movedim(m.dim, 0)[list(m.index)].reshape(len(m.index), -1).sum(1)
            parts.append(w.new_zeros(g.size).index_add_(0, w.new_tensor(m.channel, dtype=int).long(), w))
        score = sum(parts) / len(parts)
        scores.append(score / score.mean())
    return ctx.select_channels(scores)
