"""N:M sparsity: exactly N weights kept in every group of M consecutive weights along the input dimension."""
from benchsuite import register_method


@register_method("nm_magnitude", target="nm")
def nm_magnitude(ctx):
    """Keep the N largest |w| in every group of M (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks",
    NVIDIA's ASP `mn_1d_best`): groups run along the input dimension, at each kernel position of a convolution.
    ASP picks, per group, the N-of-M pattern of largest summed |w|, which is the same choice (ties here go to the
    earlier weight). ASP zero-pads a row whose length is not a multiple of M and skips layers whose shapes tensor
    cores cannot use; here such a layer (input size not a multiple of M) stays dense and the result lists it."""
    return ctx.select({n: w.abs() for n, w in ctx.weights.items()})
