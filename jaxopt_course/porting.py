"""Porting a PyTorch recipe: weights between ``torch.nn`` and the MLP, and torch's parameter groups.

Weights.  ``torch.nn.Linear(in, out)`` computes ``y = x Wᵀ + b`` with ``W`` of shape ``[out, in]``;
a Flax ``Dense`` computes ``y = x K + b`` with a kernel ``K`` of shape ``[in, out]``.  So ``K = Wᵀ``
and the biases are the same vector.  :func:`params_from_torch` copies a torch model's Linear
layers, in the order ``torch_model.modules()`` visits them, into the
``{"dense_i": {"kernel", "bias"}}`` params of :func:`jaxopt_course.models.mlp`;
:func:`params_to_torch` writes them back.  A transpose moves bits and rounds nothing, so the two
models give the same outputs to float32 rounding of the matrix products, and a round trip returns
the very same numbers.

Parameter groups.  torch's ``AdamW([{"params": weights, "weight_decay": λ}, {"params": biases,
"weight_decay": 0.0, "lr": b}], lr=a)`` is ``optax.multi_transform`` with one optimiser per label
and :func:`param_labels` as its labelling function::

    optimizer = optax.multi_transform(
        {"decay": torch_conventions.adamw(lr=a, weight_decay=λ),
         "no_decay": torch_conventions.adamw(lr=b, weight_decay=0.0)},
        param_labels,
    )

:func:`decay_mask` gives the same split as booleans, for ``optax.masked`` or
``optax.add_decayed_weights(λ, mask=decay_mask)``.  torch is imported only inside the two
weight-copying functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["decay_mask", "is_weight", "param_labels", "params_from_torch", "params_to_torch"]

_TORCH_DTYPES = (np.float16, np.float32, np.float64)  # what torch.from_numpy reads


# --------------------------------------------------------------------------- weights
def _import_torch(function: str):
    try:
        import torch
    except ImportError as error:  # torch is an optional extra
        raise ImportError(
            f"{function} copies weights to or from a torch model and needs PyTorch, which is not installed; "
            "install it (pip install torch), or build the params with jaxopt_course.models.mlp"
        ) from error
    return torch


def _linear_layers(torch, torch_model) -> list:
    """The ``torch.nn.Linear`` layers of ``torch_model``, in ``modules()`` order, each with a bias."""
    if not isinstance(torch_model, torch.nn.Module):
        raise TypeError(
            f"torch_model must be a torch.nn.Module (e.g. an nn.Sequential of Linear layers); got {type(torch_model).__name__}"
        )
    layers = [module for module in torch_model.modules() if isinstance(module, torch.nn.Linear)]
    if not layers:
        raise ValueError(f"torch_model has no torch.nn.Linear layer to copy (it is a {type(torch_model).__name__})")
    for i, layer in enumerate(layers):
        if layer.bias is None:
            raise ValueError(
                f"torch_model's Linear layer {i} has no bias (bias=False); the MLP's dense layers always have one"
            )
    return layers


def _dense_layers(params: Any, argument: str) -> list[dict]:
    """``[params["dense_0"], params["dense_1"], ...]``, checked to be MLP params and nothing else."""
    if not isinstance(params, dict):
        raise TypeError(
            f"{argument} must be the MLP's dict of params ({{'dense_0': {{'kernel', 'bias'}}, ...}}); got {type(params).__name__}"
        )
    names = [f"dense_{i}" for i in range(len(params))]
    if sorted(params) != sorted(names):
        raise ValueError(
            f"{argument} must hold dense layers dense_0 ... dense_{len(params) - 1} only (no batch norm); got {sorted(params)}"
        )
    for name in names:
        if not isinstance(params[name], dict) or sorted(params[name]) != ["bias", "kernel"]:
            raise ValueError(f"{argument}[{name!r}] must hold exactly 'kernel' and 'bias'; got {params[name]!r}")
    return [params[name] for name in names]


def _check_layout(layers: list, dense: list[dict], argument: str) -> None:
    """The same number of layers, and kernel ``[in, out]`` = weight ``[out, in]`` transposed, layer by layer."""
    if len(layers) != len(dense):
        raise ValueError(
            f"torch_model has {len(layers)} Linear layers but {argument} has {len(dense)} dense layers; "
            "build the MLP with one width per Linear layer"
        )
    for i, (layer, params) in enumerate(zip(layers, dense)):
        weight, bias = tuple(layer.weight.shape), tuple(layer.bias.shape)
        kernel_shape, bias_shape = tuple(np.shape(params["kernel"])), tuple(np.shape(params["bias"]))
        if kernel_shape != weight[::-1] or bias_shape != bias:
            raise ValueError(
                f"layer {i}: torch_model's Linear has weight {weight} [out, in] and bias {bias}, so a kernel of {weight[::-1]}, "
                f"but {argument}['dense_{i}'] has kernel {kernel_shape} [in, out] and bias {bias_shape}"
            )


def params_from_torch(torch_model, like: dict | None = None) -> dict:
    """The MLP params of a torch model: ``kernel_i = W_iᵀ`` and ``bias_i = b_i`` for its i-th Linear.

    Args:
      torch_model: a ``torch.nn.Module`` whose ``torch.nn.Linear`` layers, in
        ``torch_model.modules()`` order, are the MLP's dense layers (e.g. ``nn.Sequential(Linear,
        ReLU, Linear)``).  Activations are not copied: build the MLP with the same ``activation``.
      like: MLP params to match (from :func:`jaxopt_course.models.mlp`): the layer count and every
        shape are checked against them and the copies take their dtypes.  Without it the arrays
        are float32.

    Returns:
      ``{"dense_i": {"kernel": [in, out], "bias": [out]}}``: new JAX arrays, sharing no memory
      with the torch model.

    Raises:
      ValueError: the model has no Linear layer, or (with ``like``) the counts or a layer's shapes
        differ; the message names the argument, the layer and both shapes.
      ImportError: torch is not installed.
    """
    torch = _import_torch("params_from_torch")
    layers = _linear_layers(torch, torch_model)
    if like is not None:
        _check_layout(layers, _dense_layers(like, "like"), "like")
    dtypes = [
        (like[f"dense_{i}"]["kernel"].dtype, like[f"dense_{i}"]["bias"].dtype)
        if like is not None
        else (jnp.float32,) * 2
        for i in range(len(layers))
    ]
    with torch.no_grad():
        return {
            f"dense_{i}": {
                "kernel": jnp.asarray(np.array(layer.weight.detach().cpu().numpy().T, copy=True), kernel_dtype),
                "bias": jnp.asarray(np.array(layer.bias.detach().cpu().numpy(), copy=True), bias_dtype),
            }
            for i, (layer, (kernel_dtype, bias_dtype)) in enumerate(zip(layers, dtypes))
        }


def _host_array(leaf) -> np.ndarray:
    """A writable, contiguous numpy copy of a JAX leaf that ``torch.from_numpy`` reads (bfloat16
    widens to float32, exactly)."""
    array = np.asarray(leaf)
    return np.array(array, dtype=array.dtype if array.dtype in _TORCH_DTYPES else np.float32, order="C", copy=True)


def params_to_torch(params: dict, torch_model):
    """Copies MLP params into a torch model in place, under ``torch.no_grad()``: ``W_i ← kernel_iᵀ``, ``b_i ← bias_i``.

    Args:
      params: MLP params ``{"dense_i": {"kernel", "bias"}}`` (from ``models.mlp`` or ``fit``).
      torch_model: the ``torch.nn.Module`` to write into; its Linear layers, in
        ``torch_model.modules()`` order, must have the shapes of ``params``' dense layers.  They
        keep their dtype and device.

    Returns:
      ``torch_model``, for chaining.

    Raises:
      ValueError: the model has no Linear layer, or the counts or a layer's shapes differ; the
        message names the argument, the layer and both shapes.  Nothing is written then.
      ImportError: torch is not installed.
    """
    torch = _import_torch("params_to_torch")
    layers = _linear_layers(torch, torch_model)
    dense = _dense_layers(params, "params")
    _check_layout(layers, dense, "params")
    with torch.no_grad():
        for layer, values in zip(layers, dense):
            layer.weight.copy_(torch.from_numpy(_host_array(values["kernel"]).T))
            layer.bias.copy_(torch.from_numpy(_host_array(values["bias"])))
    return torch_model


# --------------------------------------------------------------------------- parameter groups
def is_weight(path: tuple, leaf: Any) -> bool:
    """torch's "weights" of the usual parameter groups: leaves of two or more dimensions.

    Kernels (``dense_i/kernel``, ``models.linear``'s ``w``) are; biases and batch norm's
    ``scale`` and ``bias`` (one dimension) are not.  ``path`` is unused; a rule of
    :func:`decay_mask` or :func:`param_labels` may read it.
    """
    del path
    return np.ndim(leaf) >= 2


def decay_mask(params: Any, rule: Callable[[tuple, Any], bool] = is_weight) -> Any:
    """A tree of bools shaped like ``params``: True where weight decay applies.

    By default (:func:`is_weight`) kernels decay and biases and norm scales do not.
    ``rule(path, leaf) -> bool`` chooses otherwise; ``path`` is the leaf's key path
    (``jax.tree_util`` keys: ``path[-1].key == "kernel"``).  Give it to ``optax.masked`` or to
    ``optax.add_decayed_weights(λ, mask=decay_mask)``.
    """
    return jax.tree_util.tree_map_with_path(lambda path, leaf: bool(rule(path, leaf)), params)


def _decay_label(path: tuple, leaf: Any) -> str:
    return "decay" if is_weight(path, leaf) else "no_decay"


def param_labels(params: Any, rule: Callable[[tuple, Any], str] = _decay_label) -> Any:
    """A tree of labels shaped like ``params``, one torch parameter group per label.

    By default ``"decay"`` on weights (:func:`is_weight`) and ``"no_decay"`` on biases and norm
    scales.  ``rule(path, leaf) -> str`` makes other groups, e.g. a per-layer learning rate with
    ``lambda path, leaf: path[0].key``.  Give this function to ``optax.multi_transform`` (with
    ``functools.partial(param_labels, rule=...)`` for another rule), with one optimiser per label.
    """
    return jax.tree_util.tree_map_with_path(lambda path, leaf: str(rule(path, leaf)), params)
