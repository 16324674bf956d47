"""The course's models (a Flax MLP with inverted dropout, a linear model) and losses.

Flax stays inside this module: :func:`mlp` and :func:`linear` return plain-dict parameters and a
pure ``apply(params, x, key=None)``; :func:`supervised_loss` turns an apply function and a loss
into the ``loss_fn(params, batch, key)`` that ``training.fit`` trains.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import compilation
from jaxopt_course.checks import check_count, check_key, is_count
from jaxopt_course.hyperparams import ProgramCache

ACTIVATIONS: dict[str, Callable] = {
    "relu": nn.relu,
    "leaky_relu": nn.leaky_relu,  # slope 0.01 below zero
    "sigmoid": nn.sigmoid,
    "tanh": jnp.tanh,
    "identity": lambda x: x,
}


def _torch_uniform(fan_in_axis: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch.nn.Linear's default initialisation."""

    def init(key, shape, dtype=jnp.float32, fan_in=None):
        bound = 1.0 / jnp.sqrt(fan_in if fan_in is not None else shape[fan_in_axis])
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def inverted_dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Keeps each unit with probability ``1 - rate`` and scales the kept ones by ``1 / (1 - rate)``.

    The expected activation is unchanged, so evaluation (``key=None``) is the identity.
    """
    if key is None or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, x.shape)
    return jnp.where(mask, x / keep, 0.0)


class MLP(nn.Module):
    """Dense layers ``widths`` (the last is the output), an activation and dropout between them.

    Each hidden layer computes ``h = σ(BN(W x + b))`` (batch normalisation optional), and with
    ``residual`` adds its input, ``x + h``, wherever the widths allow (Ioffe & Szegedy 2015;
    He et al. 2016).  ``train`` selects batch statistics (and updates the running ones) over the
    running statistics.
    """

    widths: Sequence[int]
    activation: str = "relu"
    dropout_rate: float = 0.0
    batch_norm: bool = False
    residual: bool = False

    @nn.compact
    def __call__(self, x, dropout_key=None, train=False):
        for i, width in enumerate(self.widths):
            fan_in = x.shape[-1]
            layer = nn.Dense(
                width,
                kernel_init=_torch_uniform(0),
                bias_init=lambda key, shape, dtype=jnp.float32, fan_in=fan_in: _torch_uniform(0)(
                    key, shape, dtype, fan_in
                ),
                name=f"dense_{i}",
            )
            h = layer(x)
            if i == len(self.widths) - 1:
                return h
            if self.batch_norm:  # torch's BatchNorm1d defaults: running averages with weight 0.1
                h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=f"batch_norm_{i}")(h)
            h = ACTIVATIONS[self.activation](h)
            layer_key = None if dropout_key is None else jax.random.fold_in(dropout_key, i)
            h = inverted_dropout(h, self.dropout_rate, layer_key)
            x = x + h if self.residual and h.shape == x.shape else h
        return x


def mlp(
    key: jax.Array,
    in_features: int,
    widths: Sequence[int],
    *,
    activation: str = "relu",
    dropout_rate: float = 0.0,
    residual: bool = False,
) -> tuple[dict, Callable]:
    """An MLP ``in_features → widths[0] → … → widths[-1]``: returns ``(params, apply)``.

    ``apply(params, x, key=None)`` runs dropout only when given a key (training).  Weights and
    biases start as torch.nn.Linear's do, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, so the course's
    PyTorch curves and ours start from the same scale (drawn as :func:`initial_variables` says).  ``residual`` adds each hidden layer's
    input to its output where the widths match.  For batch normalisation see
    :func:`batch_norm_mlp`.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1); got {dropout_rate!r}")
    _check_sizes(in_features, widths)
    check_key(key)
    module = MLP(tuple(int(w) for w in widths), activation, float(dropout_rate), residual=bool(residual))
    params = initial_variables(module, key, int(in_features))["params"]

    def apply(params, x, key=None):
        return module.apply({"params": params}, x, key)

    return params, apply


def batch_norm_mlp(
    key: jax.Array,
    in_features: int,
    widths: Sequence[int],
    *,
    activation: str = "relu",
    residual: bool = False,
) -> tuple[dict, dict, Callable]:
    """An MLP with batch normalisation before every hidden activation: ``(params, model_state, apply)``.

    ``model_state`` holds the running means and variances (Flax's ``batch_stats``), which are
    not trained but carried: ``apply(params, x, key=None, model_state=...) -> (y, new_model_state)``
    normalises with the batch's own statistics and updates the running ones when given a key
    (training), and with the running statistics, unchanged, without one (evaluation).  Train it
    with ``fit(..., model_state=model_state)`` and :func:`supervised_loss` (``stateful=True``).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
    _check_sizes(in_features, widths)
    check_key(key)
    module = MLP(tuple(int(w) for w in widths), activation, 0.0, batch_norm=True, residual=bool(residual))
    variables = initial_variables(module, key, int(in_features))

    def apply(params, x, key=None, model_state=None):
        if key is None:
            return module.apply({"params": params, "batch_stats": model_state}, x), model_state
        y, updated = module.apply(
            {"params": params, "batch_stats": model_state}, x, train=True, mutable=["batch_stats"]
        )
        return y, updated["batch_stats"]

    return variables["params"], variables["batch_stats"], apply


def initial_variables(module: MLP, key: jax.Array, in_features: int) -> dict:
    """``module.init(key, x)``'s variables (``params``, and ``batch_stats`` with batch norm), drawn faster.

    The numbers are Flax's, bit for bit: each dense parameter is ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` (``torch.nn.Linear``'s start) drawn from Flax's key for it,
    ``fold_in(key, h)`` with ``h`` the hash Flax derives from the layer's name and the
    parameter's place (:func:`_flax_fold_in_data`); batch norm starts at scale 1, shift 0,
    running mean 0 and variance 1.  But where ``module.init`` compiles one random draw per
    parameter (about 1.9 s for ten layers on a CPU), this draws all the keys in one vectorised
    ``fold_in`` and the layers of one shape in one vectorised call (:func:`vectorised_draws`):
    about 0.4 s, and the program is kept per layout, so building the same architecture again
    compiles nothing.
    """
    layout = jax.eval_shape(module.init, key, jax.ShapeDtypeStruct((2, in_features), jnp.float32))  # traced only
    paths = [
        (tuple(str(k.key) for k in path), leaf.shape, leaf.dtype)
        for path, leaf in jax.tree_util.tree_flatten_with_path(layout)[0]
    ]
    # only the dense layers are random: one program per dense layout, shared with and without batch norm
    dense = {int(path[1].removeprefix("dense_")): shape for path, shape, _ in paths if path[-1] == "kernel"}
    drawn = _draw_program(tuple(sorted(dense.items())))(key)
    starts = {"scale": 1.0, "var": 1.0, "bias": 0.0, "mean": 0.0}  # batch norm's
    leaves = [
        drawn[path[1], path[-1]] if path[1].startswith("dense_") else _constant(shape, dtype.name, starts[path[-1]])
        for path, shape, dtype in paths
    ]
    return jax.tree.unflatten(jax.tree.structure(layout), leaves)


def _constant(shape: tuple, dtype: str, value: float) -> jax.Array:
    """A new array filled with ``value``, made on the host: no program is compiled for it (a
    ``jnp.full`` would compile one per shape), and each model gets its own (a donated buffer of
    one model cannot be another's)."""
    return jnp.asarray(np.full(shape, value, dtype))


def _flax_fold_in_data(*suffix) -> int:
    """The integer Flax folds into the root key for a parameter (``flax.core.scope``'s rule).

    A parameter made by submodule ``name``'s ``n``-th ``make_rng("params")`` gets
    ``fold_in(key, h)``, ``h`` the first four bytes (big-endian) of SHA-1 over the suffix
    ``(name, n)``, each element preceded by a zero byte (Flax's ``flax_fix_rng_separator``
    option) and ints written as minimal big-endian bytes.  ``tests/test_models.py`` checks the
    result against ``module.init`` itself.
    """
    digest = hashlib.sha1()
    for part in suffix:
        if flax.config.flax_fix_rng_separator:
            digest.update(b"\x00")
        digest.update(part.encode() if isinstance(part, str) else part.to_bytes((part.bit_length() + 7) // 8, "big"))
    return int.from_bytes(digest.digest()[:4], "big")


def vectorised_draws(draw: Callable, keys: jax.Array, specs: Sequence[tuple]) -> list[jax.Array]:
    """``[draw(keys[i], *specs[i]) for i in ...]``, the draws of equal specs in one vectorised call.

    ``specs`` are hashable tuples (a shape, a fan-in); the results are the same bits as the
    separate calls, but a program compiles one random draw per distinct spec, not one per key
    (a single key is drawn plainly, which is cheaper to compile than a vmap of one).
    """
    if len(keys) != len(specs):  # indexing past the end would silently reuse the last key
        raise ValueError(
            f"keys and specs must have one entry each per draw; got {len(keys)} keys and {len(specs)} specs"
        )
    values: list = [None] * len(specs)
    for spec in dict.fromkeys(specs):
        rows = [i for i, s in enumerate(specs) if s == spec]
        if len(rows) == 1:
            drawn = draw(keys[rows[0]], *spec)[None]
        else:
            drawn = jax.vmap(lambda k, spec=spec: draw(k, *spec))(keys[np.array(rows)])
        for j, i in enumerate(rows):
            values[i] = drawn[j]
    return values


@functools.lru_cache(maxsize=64)
def _draw_program(kernels: tuple) -> Callable:
    """The compiled draw of :func:`initial_variables`'s dense parameters, for one dense layout
    ``((layer, kernel shape), ...)``: a dict ``{("dense_i", "kernel" | "bias"): array}``."""
    layers = [layer for layer, _ in kernels]
    # Dense creates its kernel, then its bias: the 1st and 2nd make_rng of its scope
    hashes = np.array([_flax_fold_in_data(f"dense_{i}", n) for i in layers for n in (1, 2)], np.uint32)
    specs = [spec for _, shape in kernels for spec in ((shape, shape[0]), ((shape[1],), shape[0]))]  # (shape, fan_in)
    initialise = _torch_uniform(0)

    def draw(key):
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.asarray(hashes))
        values = vectorised_draws(lambda k, shape, fan_in: initialise(k, shape, jnp.float32, fan_in), keys, specs)
        return {
            (f"dense_{layer}", part): values[2 * position + offset]
            for position, layer in enumerate(layers)
            for offset, part in enumerate(("kernel", "bias"))
        }

    return compilation.jit(draw)


def _check_sizes(in_features, widths) -> None:
    if not _is_positive_int(in_features):
        raise ValueError(f"in_features must be a positive integer (the number of input columns); got {in_features!r}")
    if (
        isinstance(widths, (str, bytes))
        or not hasattr(widths, "__len__")
        or not widths
        or not all(_is_positive_int(w) for w in widths)
    ):
        raise ValueError(
            f"widths must be a non-empty sequence of positive integers (layer sizes, the last is the output); got {widths!r}"
        )


def _is_positive_int(value) -> bool:
    return is_count(value) and value >= 1


def linear(
    key: jax.Array | None, in_features: int, out_features: int = 1, *, scale: float = 0.01
) -> tuple[dict, Callable]:
    """``ŷ = x w + b`` with ``w ~ N(0, scale²)`` (d2l's start; zeros without a key) and b = 0."""
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        check_count(name, value)
    shape = (in_features, out_features)
    w = jnp.zeros(shape, jnp.float32) if key is None else scale * jax.random.normal(key, shape)
    params = {"w": w, "b": jnp.zeros((out_features,), jnp.float32)}

    def apply(params, x, key=None):
        del key
        return x @ params["w"] + params["b"]

    return params, apply


# ------------------------------------------------------------------ losses (mean over the batch)
def _check_same_shape(prediction: jax.Array, target: jax.Array) -> None:
    """A regression loss compares like with like: a [N] target against [N, 1] predictions would
    broadcast to an [N, N] matrix of every pair and train on it."""
    if jnp.shape(prediction) != jnp.shape(target):
        raise ValueError(
            f"predictions have shape {jnp.shape(prediction)} but targets have shape {jnp.shape(target)}; "
            "give targets the predictions' shape (e.g. y.reshape(-1, 1) for one output)"
        )


def mse(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """Mean squared error ``mean((ŷ - y)²)`` (torch's ``nn.MSELoss``); shapes must match."""
    _check_same_shape(prediction, target)
    return jnp.mean((prediction - target) ** 2)


def half_squared_error(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """d2l's squared loss ``(ŷ - y)² / 2``, averaged over the batch (d2l divides by the batch size)."""
    _check_same_shape(prediction, target)
    return jnp.mean((prediction - target) ** 2) / 2.0


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Softmax cross-entropy with integer labels, averaged over the batch.

    ``L = -(1/N) Σ_i log softmax(z_i)[y_i]`` for logits ``z`` [N, C] and labels ``y_i`` in
    ``{0, …, C-1}`` (shape [N] or [N, 1]).  One-hot labels, and labels outside ``[0, C)`` where
    they are concrete (not traced), are refused with a message that says what to pass instead.
    """
    check_labels(logits, labels)
    log_probabilities = jax.nn.log_softmax(logits)
    labels = labels.reshape(-1).astype(jnp.int32)
    return -jnp.mean(jnp.take_along_axis(log_probabilities, labels[:, None], axis=-1))


def check_labels(logits, labels) -> None:
    """Integer class labels for ``logits`` [N, C]: N of them, not one-hot, in ``[0, C)`` when concrete."""
    logits_shape, labels_shape = tuple(getattr(logits, "shape", None) or jnp.shape(logits)), jnp.shape(labels)
    if len(logits_shape) != 2:
        raise ValueError(f"cross_entropy takes logits [N, classes]; got logits of shape {logits_shape}")
    count, classes = logits_shape
    if len(labels_shape) == 2 and labels_shape == logits_shape and classes > 1:
        raise ValueError(
            f"cross_entropy takes integer class labels [N] (0 … {classes - 1}); got labels of shape {labels_shape}, "
            "the shape of one-hot labels: pass labels.argmax(axis=-1), or use optax.softmax_cross_entropy as the loss for one-hot or soft labels"
        )
    if int(np.prod(labels_shape)) != count or len(labels_shape) > 2:
        raise ValueError(
            f"cross_entropy takes logits [N, classes] and N labels; got logits {logits_shape} and labels {labels_shape}"
        )
    if not isinstance(labels, jax.core.Tracer):
        values = np.asarray(labels)
        if values.size and not np.issubdtype(values.dtype, np.integer) and not np.all(values == np.round(values)):
            raise ValueError(
                f"cross_entropy takes integer class labels; got non-integer values such as {values[values != np.round(values)].flat[0].item()!r}"
            )
        outside = values[(values < 0) | (values >= classes)]
        if outside.size:
            raise ValueError(
                f"cross_entropy's labels must be class indices in [0, {classes}) for logits of {classes} classes; "
                f"got {outside.size} outside, such as {outside.flat[0].item()!r}: give the model {int(values.max()) + 1} outputs, or relabel the classes 0 … {classes - 1}"
            )


LOSSES = {"mse": mse, "half_squared_error": half_squared_error, "cross_entropy": cross_entropy}


def supervised_loss(apply: Callable, loss: str | Callable = "mse", *, stateful: bool = False) -> Callable:
    """``loss_fn(params, batch, key=None) = loss(apply(params, x, key), y)`` for ``batch = (x, y)``.

    With ``stateful=True`` (an ``apply`` from :func:`batch_norm_mlp`), ``loss_fn(params, batch,
    key, model_state)`` returns ``(loss, new_model_state)``, what ``fit(..., model_state=...)``
    expects.
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable; got {loss!r}")
        loss = LOSSES[loss]
    checks = functools.partial(_check_classes, apply, stateful) if loss is cross_entropy else None
    if stateful:

        def stateful_loss_fn(params, batch, key, model_state):
            x, y = batch
            prediction, model_state = apply(params, x, key, model_state)
            return loss(prediction, y), model_state

        stateful_loss_fn.check_data = checks
        return stateful_loss_fn

    def loss_fn(params, batch, key=None):
        x, y = batch
        return loss(apply(params, x, key), y)

    loss_fn.check_data = checks  # fit calls it on data and eval_data before training
    return loss_fn


_OUTPUT_SHAPES = ProgramCache(maxsize=64)  # a model's output shape, by the model and its inputs' shapes


def _output_shape(apply: Callable, stateful: bool, params, first, model_state) -> tuple:
    """The shape of ``apply``'s output for one row ``first``: traced for shapes only, nothing runs."""
    if stateful:
        return jax.eval_shape(lambda p, x, s: apply(p, x, None, s)[0], params, first, model_state).shape
    return jax.eval_shape(lambda p, x: apply(p, x, None), params, first).shape


def _check_classes(apply: Callable, stateful: bool, params, data, model_state=None, name: str = "data") -> None:
    """Every label of ``data`` against the model's number of outputs (read from its shapes)."""
    x, y = data

    def abstract(array, rows=None):
        shape = np.shape(array) if rows is None else (rows, *np.shape(array)[1:])
        return jax.ShapeDtypeStruct(shape, jnp.result_type(array))

    inputs = (
        jax.tree.map(abstract, params),
        jax.tree.map(lambda a: abstract(a, 1), x),
        jax.tree.map(abstract, model_state),
    )
    parts = (
        "outputs",
        apply,
        stateful,
        jax.tree.structure(inputs),
        tuple((s.shape, str(s.dtype)) for s in jax.tree.leaves(inputs)),
    )
    try:
        shape = _OUTPUT_SHAPES.get(parts, lambda: _output_shape(apply, stateful, *inputs))
    except Exception as error:  # noqa: BLE001  (the model's own error type: Flax's, or the user's)
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{name}: the model cannot be applied to its x, of shape {tuple(np.shape(x))} "
            f"({type(error).__name__}: {message}); give x as many features as the model's first layer takes"
        ) from error
    try:
        check_labels(jax.ShapeDtypeStruct((len(y), *shape[1:]), jnp.float32), y)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def accuracy(apply: Callable, *, stateful: bool = False) -> Callable:
    """The metric ``fn(params, batch) = mean(argmax(apply(params, x), -1) == y)`` for ``batch = (x, y)``.

    The fraction of samples whose highest logit is their integer label (shape [N] or [N, 1]), a
    float32 in [0, 1]; a ``metrics=`` entry of ``training.fit`` and ``make_train``.  Evaluated
    without a key (no dropout).  With ``stateful=True`` (an ``apply`` from
    :func:`batch_norm_mlp`) it is ``fn(params, batch, model_state)`` and normalises with the
    running statistics, as ``fit(..., model_state=...)`` calls its metrics.
    """
    if not callable(apply):
        raise TypeError(f"apply must be a model's apply(params, x, ...) function; got {apply!r}")

    def correct(logits, labels):
        if jnp.ndim(logits) != 2 or int(np.prod(jnp.shape(labels))) != jnp.shape(logits)[0]:
            raise ValueError(
                f"accuracy takes logits [N, classes] and N integer labels; got logits {jnp.shape(logits)} and labels {jnp.shape(labels)}"
            )
        return jnp.mean(jnp.argmax(logits, axis=-1) == jnp.reshape(labels, (-1,)).astype(jnp.int32), dtype=jnp.float32)

    if stateful:

        def stateful_accuracy(params, batch, model_state):
            x, y = batch
            return correct(apply(params, x, None, model_state)[0], y)

        return stateful_accuracy

    def accuracy_fn(params, batch):
        x, y = batch
        return correct(apply(params, x), y)

    return accuracy_fn
