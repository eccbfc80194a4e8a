"""The hidden-unit symmetries of an MLP on a flat θ (seed 1.2).

Swapping two units j, k of hidden layer l — their incoming weights (columns of W_l), biases
(entries of b_l) and outgoing weights (rows of W_{l+1}) together — leaves the network's output
unchanged. For an odd activation (tanh) flipping the sign of all three for one unit does too;
for the sigmoid, σ(−z) = 1 − σ(z), the flip also moves the unit's outgoing weights into the
next layer's biases (:func:`flip_units`). These are discrete. Some models also have continuous
symmetries, whose orbits are curves of equal loss: ReLU's positive rescaling of a unit
(incoming ×α, outgoing ÷α), the general linear group of a linear hidden layer, and the shift of
every softmax logit by the same affine function of the last hidden layer
(:func:`symmetry_tangents` gives their directions at θ).

A model with frozen parameter blocks (:class:`landscape.model.MLP`) keeps only the symmetries
that leave every frozen entry as it is: unit permutations always (a block is frozen at one
value), a unit's flip only where the blocks it negates are frozen at 0 (:func:`flip_layers`),
a continuous symmetry only where its direction is zero on the frozen entries. Safran &
Shamir's student (output weights fixed to 1) thus keeps its n! permutations and loses ReLU's
rescaling.

A symmetry is stored as a :class:`Transform`: ``θ' = sign ⊙ θ[index]``, one integer index array
and one ±1 array over θ, so it applies to a (K, D) population at once, composes by indexing
and inverts by ``argsort``. Which entries of θ a unit owns is one table (:func:`unit_slots`),
the single place that knows the layout of the symmetry (as in git-re-basin's weight matching).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from landscape.analysis.kind import Inputs, Kind, Outcome, hessian_memory
from landscape.params import Layout
from landscape.rules import setting
from landscape.train import train


@dataclass(frozen=True)
class Transform:
    """θ ↦ sign ⊙ θ[index].

    Attributes
    ----------
    index : ndarray of int, shape (D,)
    sign : ndarray of float, shape (D,), entries ±1
    """

    index: np.ndarray
    sign: np.ndarray

    @classmethod
    def identity(cls, n_params: int) -> Transform:
        """Return the transform that changes nothing."""
        return cls(np.arange(n_params), np.ones(n_params))

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """Apply to θ of shape (D,) or (K, D)."""
        return theta[..., self.index] * self.sign

    def then(self, other: Transform) -> Transform:
        """Compose: first ``self``, then ``other``."""
        return Transform(self.index[other.index], other.sign * self.sign[other.index])

    def inverse(self) -> Transform:
        """Return the transform that undoes this one."""
        inv = np.argsort(self.index)
        return Transform(inv, self.sign[inv])

    def is_identity(self) -> bool:
        """Tell whether θ is left unchanged."""
        unmoved = np.array_equal(self.index, np.arange(self.index.size))
        return bool(unmoved and (self.sign == 1).all())


def unit_slots(layout: Layout, layer: int) -> np.ndarray:
    """List the θ indices owned by each unit of hidden layer ``layer`` (0 = first hidden layer).

    Returns
    -------
    ndarray of int, shape (d_l, d_{l-1} + 1 + d_{l+1})
        Row j: unit j's incoming weights (column j of W_l), its bias b_l[j] and its outgoing
        weights (row j of W_{l+1}). Permuting rows of this table permutes units; negating a
        row's entries flips a unit's sign.
    """
    if not 0 <= layer < layout.n_layers - 1:
        raise ValueError(
            f"layer={layer} is not a hidden layer; this network has hidden layers "
            f"0 … {layout.n_layers - 2}"
        )
    d_in, d, d_out = layout.sizes[layer], layout.sizes[layer + 1], layout.sizes[layer + 2]
    w0, b0, _ = layout.offsets[layer]
    w1, _, _ = layout.offsets[layer + 1]
    units = np.arange(d)
    incoming = w0 + np.arange(d_in)[None, :] * d + units[:, None]  # W_l[i, j], row-major
    bias = (b0 + units)[:, None]
    outgoing = w1 + units[:, None] * d_out + np.arange(d_out)[None, :]  # W_{l+1}[j, k]
    return np.hstack([incoming, bias, outgoing])


def unit_transform(
    layout: Layout,
    perms: dict[int, np.ndarray] | None = None,
    flips: dict[int, np.ndarray] | None = None,
) -> Transform:
    """Build the θ transform of unit permutations and sign flips per hidden layer.

    Parameters
    ----------
    layout : Layout
    perms : dict of layer to ndarray of int, shape (d_l,)
        New unit j is old unit ``perms[layer][j]``.
    flips : dict of layer to ndarray of bool, shape (d_l,)
        Units (after permuting) whose sign is flipped.

    Returns
    -------
    Transform

    Notes
    -----
    W_{l+1} is owned by two tables (its rows by layer l, its columns by layer l+1), so each
    layer's transform is built alone and the layers' transforms are composed.
    """
    total = Transform.identity(layout.n_params)
    for layer in range(layout.n_layers - 1):
        perm = None if not perms or layer not in perms else np.asarray(perms[layer])
        flip = None if not flips or layer not in flips else np.asarray(flips[layer], dtype=bool)
        if perm is None and flip is None:
            continue
        slots = unit_slots(layout, layer)
        index = np.arange(layout.n_params)
        sign = np.ones(layout.n_params)
        if perm is not None:
            if sorted(perm.tolist()) != list(range(slots.shape[0])):
                raise ValueError(f"perms[{layer}]={perm.tolist()} is not a permutation")
            index[slots] = slots[perm]
        if flip is not None:
            sign[slots[flip]] = -1.0
        total = total.then(Transform(index, sign))
    return total


def transposition(layout: Layout, layer: int, j: int, k: int) -> Transform:
    """Swap units j and k of hidden layer ``layer`` (the seed's elementary symmetry)."""
    perm = np.arange(layout.sizes[layer + 1])
    perm[[j, k]] = perm[[k, j]]
    return unit_transform(layout, perms={layer: perm})


def _per_layer(layout: Layout, odd) -> tuple[bool, ...]:
    """``odd`` as one flag per hidden layer (a bool applies to every layer)."""
    n = layout.n_layers - 1
    if isinstance(odd, bool | np.bool_):
        return (bool(odd),) * n
    flags = tuple(bool(o) for o in odd)
    if len(flags) != n:
        raise ValueError(f"got {len(flags)} flip flags for {n} hidden layers")
    return flags


def random_transform(
    layout: Layout, rng: np.random.Generator, *, signs: bool | tuple[bool, ...] = False
) -> Transform:
    """Draw a uniformly random element of the symmetry group.

    ``signs``: with sign flips (True, or one flag per hidden layer as :func:`flip_layers`
    gives).
    """
    hidden = range(layout.n_layers - 1)
    flags = _per_layer(layout, signs)
    perms = {h: rng.permutation(layout.sizes[h + 1]) for h in hidden}
    flips = {h: rng.random(layout.sizes[h + 1]) < 0.5 for h in hidden if flags[h]}
    return unit_transform(layout, perms, flips or None)


def flip_layers(model) -> tuple[bool, ...]:
    """Tell per hidden layer whether flipping a unit (odd sign flip, sigmoid flip) is a symmetry.

    Only for odd activations and the sigmoid; and with frozen blocks only where the flip keeps
    them: the unit's incoming weights, bias and outgoing weights are negated, so each of
    W_l, b_l, W_{l+1} that is frozen must be frozen at 0, and the sigmoid's flip adds the
    outgoing weights to b_{l+1}, so that may be frozen only when W_{l+1} is frozen at 0.

    Returns
    -------
    tuple of bool, one per hidden layer
    """
    layers = model.layout.n_layers - 1
    kind = model.activation.odd or model.activation.name == "sigmoid"
    frozen = getattr(model, "frozen", {})
    out = []
    for layer in range(1, layers + 1):  # the seed's numbering: hidden layer l feeds W_{l+1}
        ok = kind and all(
            frozen.get(b, 0.0) == 0.0 for b in (f"W{layer}", f"b{layer}", f"W{layer + 1}")
        )
        if ok and not model.activation.odd and f"b{layer + 1}" in frozen:
            ok = frozen.get(f"W{layer + 1}") == 0.0
        out.append(bool(ok))
    return tuple(out)


@dataclass(frozen=True)
class GroupCounts:
    """How many symmetric copies a minimum has.

    Attributes
    ----------
    transpositions : int
        The seed's count ∏_l C(d_l, 2): the pair swaps, one layer at a time.
    permutations : int
        The true size of the unit-permutation group, ∏_l d_l!.
    with_signs : int or None
        With the unit flips (the sign flip of an odd activation, the sigmoid's flip with its
        bias shift): ∏_l d_l! · 2^{d_l}; None when the activation has none.
    continuous : int
        Dimension of the continuous symmetries (0 when there are none): the flat directions
        of every critical point that the symmetry explains (:func:`symmetry_tangents`).
    continuous_kinds : str
        Which continuous symmetries those are ("" when none).
    """

    transpositions: int
    permutations: int
    with_signs: int | None
    continuous: int = 0
    continuous_kinds: str = ""


def group_counts(
    layout: Layout, odd: bool, *, activation: str | None = None, loss: str | None = None
) -> GroupCounts:
    """Count the symmetries of the hidden layers of ``layout``.

    Parameters
    ----------
    layout : Layout
    odd : bool
        The activation is odd (sign flips). The sigmoid's flip counts the same way; pass
        ``activation="sigmoid"``.
    activation, loss : str, optional
        Names the continuous symmetries: ``relu`` (one rescaling per hidden unit),
        ``identity`` (d_l² per linear hidden layer), ``cross_entropy`` (the softmax shift,
        d_{L-1} + 1).
    """
    hidden = layout.sizes[1:-1]
    flips = odd or activation == "sigmoid"
    continuous, kinds = 0, []
    if activation == "relu" and hidden:
        continuous += sum(hidden)
        kinds.append(f"ReLU rescaling ({sum(hidden)})")
    if activation == "identity" and hidden:
        continuous += sum(d * d for d in hidden)
        kinds.append(f"linear GL(d) ({sum(d * d for d in hidden)})")
    if loss == "cross_entropy":
        continuous += layout.sizes[-2] + 1
        kinds.append(f"softmax shift ({layout.sizes[-2] + 1})")
    return GroupCounts(
        transpositions=math.prod(math.comb(d, 2) for d in hidden),
        permutations=math.prod(math.factorial(d) for d in hidden),
        with_signs=math.prod(math.factorial(d) * 2**d for d in hidden) if flips else None,
        continuous=continuous,
        continuous_kinds=", ".join(kinds),
    )


def model_group_counts(model) -> GroupCounts:
    """Count the symmetries of ``model`` (an MLP): discrete and continuous.

    With frozen blocks only those that keep them (see the module docstring): flips per
    :func:`flip_layers`, continuous symmetries whose generators are zero on the frozen entries.
    """
    counts = group_counts(
        model.layout,
        model.activation.odd,
        activation=model.activation.name,
        loss=model.loss_fn.name,
    )
    if not getattr(model, "frozen", None):
        return counts
    flags = flip_layers(model)
    hidden = model.layout.sizes[1:-1]
    with_signs = (
        math.prod(
            math.factorial(d) * 2 ** (d if f else 0) for d, f in zip(hidden, flags, strict=True)
        )
        if any(flags)
        else None
    )
    # the generators at a generic point (every free entry 1): which survive the frozen entries
    generic = model.freeze(np.ones(model.n_params))
    kinds: dict[str, int] = {}
    for kind, _ in _generators(model, generic):
        kinds[kind] = kinds.get(kind, 0) + 1
    return GroupCounts(
        transpositions=counts.transpositions,
        permutations=counts.permutations,
        with_signs=with_signs,
        continuous=sum(kinds.values()),
        continuous_kinds=", ".join(f"{k} ({v})" for k, v in kinds.items()),
    )


def flip_units(layout: Layout, theta: np.ndarray, layer: int, mask: np.ndarray, odd: bool):
    """Flip the units ``mask`` of hidden layer ``layer``: the odd sign flip or the sigmoid flip.

    Parameters
    ----------
    layout : Layout
    theta : ndarray of shape (D,) or (K, D)
    layer : int
    mask : ndarray of bool, shape (d_layer,)
    odd : bool
        True: negate the units' incoming weights, biases and outgoing weights. False (sigmoid):
        the same, and add the old outgoing weights to the next layer's biases, since
        w·σ(z) = w + (−w)·σ(−z).

    Returns
    -------
    ndarray of theta's shape
    """
    out = np.array(theta, dtype=np.result_type(theta, np.float64))
    slots = unit_slots(layout, layer)[np.asarray(mask, dtype=bool)]
    if not odd and len(slots):
        d_in = layout.sizes[layer]
        _, b_next, _ = layout.offsets[layer + 1]
        outgoing = slots[:, d_in + 1 :]  # (flipped, d_next)
        out[..., b_next : b_next + outgoing.shape[1]] += out[..., outgoing].sum(axis=-2)
    out[..., slots] *= -1.0
    return out


def symmetry_tangents(model, theta: np.ndarray) -> np.ndarray:
    """Directions of θ's orbit under the model's continuous symmetries.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)

    Returns
    -------
    ndarray of shape (D, s)
        One column per generator (s = ``model_group_counts(model).continuous``); E is constant
        along each, so every one is a flat direction of the Hessian at a critical point. Columns
        may be linearly dependent (e.g. a dead unit's).

    Notes
    -----
    A hidden layer with W_l → W_l A, b_l → b_l A, W_{l+1} → A⁻¹ W_{l+1} keeps the output when
    f(zA) = f(z)A: A diagonal positive for ReLU, any invertible A for the identity. The
    generator A = I + s e_i e_jᵀ moves unit j's incoming weights and bias by unit i's and unit
    i's outgoing weights by minus unit j's. Softmax is unchanged when every logit gains the same
    v·h + c: W_L[:, k] += v, b_L[k] += c for all k.
    """
    theta = np.asarray(theta, dtype=np.float64)
    cols = [v for _, v in _generators(model, theta)]
    return np.array(cols).T if cols else np.zeros((model.layout.n_params, 0))


def _generators(model, theta: np.ndarray):
    """Yield (kind, direction) of each continuous-symmetry generator that keeps the frozen entries.

    Kept: directions that are zero on every frozen entry (see :func:`symmetry_tangents`).
    """
    layout = model.layout
    D = layout.n_params
    name = model.activation.name
    frozen = model.frozen_mask if getattr(model, "frozen", None) else None

    def keeps(v: np.ndarray) -> bool:
        return frozen is None or not v[frozen].any()

    for layer in range(layout.n_layers - 1):
        if name not in ("relu", "identity"):
            break
        slots = unit_slots(layout, layer)
        d_in = layout.sizes[layer]
        d = slots.shape[0]
        pairs = (
            [(j, j) for j in range(d)]
            if name == "relu"
            else [(i, j) for i in range(d) for j in range(d)]
        )
        kind = "ReLU rescaling" if name == "relu" else "linear GL(d)"
        for i, j in pairs:
            v = np.zeros(D)
            v[slots[j, : d_in + 1]] += theta[slots[i, : d_in + 1]]
            v[slots[i, d_in + 1 :]] -= theta[slots[j, d_in + 1 :]]
            if keeps(v):
                yield kind, v
    if model.loss_fn.name == "cross_entropy":
        w, b, e = layout.offsets[-1]
        d_in, k = layout.sizes[-2], layout.sizes[-1]
        for i in range(d_in):
            v = np.zeros(D)
            v[w + i * k : w + (i + 1) * k] = 1.0  # W_L[i, :], row-major
            if keeps(v):
                yield "softmax shift", v
        v = np.zeros(D)
        v[b:e] = 1.0
        if keeps(v):
            yield "softmax shift", v


# ---------------------------------------------------------------- canonical form
def canonicalize(
    layout: Layout, theta: np.ndarray, odd: bool | tuple[bool, ...]
) -> tuple[np.ndarray, Transform]:
    """Return a canonical representative of θ's orbit under unit permutations (and sign flips).

    Layer by layer from the input: for an odd activation each unit is first flipped so that its
    bias is ≥ 0 (or its first non-zero incoming weight, when the bias is 0); then the units are
    sorted lexicographically by (bias, incoming weights). Sorting layer l reorders the rows of
    W_{l+1}, i.e. the incoming weights of layer l+1, before that layer is sorted.

    Parameters
    ----------
    layout : Layout
    theta : ndarray of shape (D,)
    odd : bool or tuple of bool
        Include the sign flips (tanh, identity); one flag per hidden layer as
        :func:`flip_layers` gives, or one for all.

    Returns
    -------
    canonical : ndarray of shape (D,)
    transform : Transform
        ``transform(theta) == canonical``.

    Notes
    -----
    Exact ties (two units with identical bias and incoming weights) leave the order to the
    sort's stability; such units are interchangeable anyway. Near-ties make the canonical form
    sensitive to rounding, which is why :func:`align` is what clusters minima.
    """
    total = Transform.identity(layout.n_params)
    current = np.array(theta, dtype=np.float64)
    flags = _per_layer(layout, odd)
    for layer in range(layout.n_layers - 1):
        slots = unit_slots(layout, layer)
        d_in = layout.sizes[layer]
        if flags[layer]:
            keyvals = np.hstack([current[slots[:, d_in : d_in + 1]], current[slots[:, :d_in]]])
            first = np.argmax(keyvals != 0.0, axis=1)
            lead = keyvals[np.arange(len(keyvals)), first]
            flip = lead < 0
            t = unit_transform(layout, flips={layer: flip})
            current = t(current)
            total = total.then(t)
        keys = np.hstack([current[slots[:, d_in : d_in + 1]], current[slots[:, :d_in]]])
        order = np.lexsort(keys.T[::-1])
        t = unit_transform(layout, perms={layer: order})
        current = t(current)
        total = total.then(t)
    return current, total


def align(
    layout: Layout, theta: np.ndarray, reference: np.ndarray, odd: bool | tuple[bool, ...]
) -> tuple[np.ndarray, Transform]:
    """Permute (and flip) the units of θ to be as close as possible to ``reference``.

    Layer by layer from the input, the assignment of θ's units to the reference's units
    minimises Σ ‖incoming weights + bias‖² differences (given the already aligned previous
    layer), solved exactly by ``scipy.optimize.linear_sum_assignment``; with an odd activation
    each pairing may also flip the sign, whichever is closer (weight matching, Ainsworth et al.
    2023).

    Parameters
    ----------
    layout : Layout
    theta, reference : ndarray of shape (D,)
    odd : bool or tuple of bool
        One for all hidden layers, or one per layer (:func:`flip_layers`).

    Returns
    -------
    aligned : ndarray of shape (D,)
    transform : Transform
        ``transform(theta) == aligned``.
    """
    total = Transform.identity(layout.n_params)
    current = np.array(theta, dtype=np.float64)
    flags = _per_layer(layout, odd)
    for layer in range(layout.n_layers - 1):
        odd = flags[layer]
        slots = unit_slots(layout, layer)
        d_in = layout.sizes[layer]
        ours = current[slots[:, : d_in + 1]]  # incoming + bias, (d, d_in + 1)
        ref = reference[slots[:, : d_in + 1]]
        # cost[i, j]: θ's unit j placed at reference unit i
        cost = ((ref[:, None, :] - ours[None, :, :]) ** 2).sum(-1)
        flipped = None
        if odd:
            cost_flip = ((ref[:, None, :] + ours[None, :, :]) ** 2).sum(-1)
            flipped = cost_flip < cost
            cost = np.minimum(cost, cost_flip)
        rows, cols = linear_sum_assignment(cost)
        perm = cols[np.argsort(rows)]
        flips = flipped[np.arange(len(perm)), perm] if odd else None
        t = unit_transform(
            layout, perms={layer: perm}, flips={layer: flips} if flips is not None else None
        )
        current = t(current)
        total = total.then(t)
    return current, total


def align_model(model, theta: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Bring θ as close to ``reference`` as the model's discrete symmetries allow.

    Unit permutations always; sign flips for an odd activation; the sigmoid's flip (with its
    bias shift, :func:`flip_units`) for the sigmoid; flips only in the layers where they keep
    the frozen entries (:func:`flip_layers`). Layer by layer as in :func:`align`.

    Parameters
    ----------
    model : MLP
    theta, reference : ndarray of shape (D,)

    Returns
    -------
    ndarray of shape (D,)
        A point of θ's orbit, with the same outputs on every input.
    """
    layout = model.layout
    flags = flip_layers(model)
    if model.activation.name != "sigmoid":
        return align(layout, theta, reference, flags)[0]
    current = np.array(theta, dtype=np.float64)
    for layer in range(layout.n_layers - 1):
        slots = unit_slots(layout, layer)
        d_in = layout.sizes[layer]
        ours = current[slots[:, : d_in + 1]]
        ref = reference[slots[:, : d_in + 1]]
        cost = ((ref[:, None, :] - ours[None, :, :]) ** 2).sum(-1)
        cost_flip = ((ref[:, None, :] + ours[None, :, :]) ** 2).sum(-1)
        flipped = (cost_flip < cost) & flags[layer]
        rows, cols = linear_sum_assignment(np.minimum(cost, cost_flip))
        perm = cols[np.argsort(rows)]
        current = unit_transform(layout, perms={layer: perm})(current)
        current = flip_units(layout, current, layer, flipped[np.arange(len(perm)), perm], False)
    return current


# ------------------------------------------------------------------ verification
@dataclass(frozen=True)
class SymmetryCheck:
    """Largest deviations seen when the symmetry is applied.

    Attributes
    ----------
    transpositions_tested : int
        Pair swaps tried (all of them, or a random sample of ``max_pairs``).
    transpositions_total : int
        Σ_l C(d_l, 2): how many pair swaps exist, one layer at a time.
    sampled : bool
        True when only a random sample of the swaps was tried.
    output_deviation : float
        max |y(x; πθ) − y(x; θ)| over the swaps tried and the data.
    loss_deviation : float
        max |E(πθ) − E(θ)|.
    sign_flips_tested : int
        Single-unit flips tried: the sign flip of an odd activation, the sigmoid's flip with
        its bias shift (none for other activations).
    sign_output_deviation : float or None
    gradient_deviation : float
        max |∇E(πθ) − π∇E(θ)| over random group elements π.
    gd_deviation : float
        max |GD(πθ⁽⁰⁾) − π GD(θ⁽⁰⁾)| after ``gd_steps`` full-batch steps.
    gd_steps : int
    counts : GroupCounts
    """

    transpositions_tested: int
    transpositions_total: int
    sampled: bool
    output_deviation: float
    loss_deviation: float
    sign_flips_tested: int
    sign_output_deviation: float | None
    gradient_deviation: float
    gd_deviation: float
    gd_steps: int
    counts: GroupCounts

    def passed(self, tol: float = 1e-10) -> bool:
        """All deviations within ``tol`` (relative to the scale of the compared values)."""
        devs = [
            self.output_deviation,
            self.loss_deviation,
            self.gradient_deviation,
            self.gd_deviation,
        ]
        if self.sign_output_deviation is not None:
            devs.append(self.sign_output_deviation)
        return all(d <= tol for d in devs)


def verify_symmetry(
    model,
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    max_pairs: int = 500,
    n_random: int = 20,
    gd_steps: int = 200,
    lr: float = 0.1,
) -> SymmetryCheck:
    """Verify the unit-swap symmetry of the seed (1.2) numerically on a network.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
        A random or trained network.
    X, y : data to evaluate outputs and losses on
    rng : numpy.random.Generator
        Samples the pair swaps (beyond ``max_pairs``) and the random group elements.
    max_pairs : int
        Try every transposition when there are at most this many, else this many at random.
    n_random : int
        Random group elements for the gradient check.
    gd_steps, lr : int, float
        Full-batch gradient descent run from θ and from πθ for the equivariance check.

    Returns
    -------
    SymmetryCheck
        Deviations are absolute; the outputs are probabilities or standardised targets, so
        float64 rounding puts them near 1e-16.
    """
    layout = model.layout
    odd = model.activation.odd
    flags = flip_layers(model)
    X = model.check_inputs(X)
    pairs = [
        (layer, j, k)
        for layer in range(layout.n_layers - 1)
        for j in range(layout.sizes[layer + 1])
        for k in range(j + 1, layout.sizes[layer + 1])
    ]
    total = len(pairs)
    sampled = total > max_pairs
    if sampled:
        pick = rng.choice(total, size=max_pairs, replace=False)
        pairs = [pairs[i] for i in sorted(pick)]
    base_out = model.forward(theta, X)
    base_loss = model.loss(theta, X, y)
    out_dev = loss_dev = 0.0
    if pairs:
        perms = np.stack([transposition(layout, *p)(theta) for p in pairs])
        out_dev = float(np.abs(model.forward(perms, X) - base_out).max())
        loss_dev = float(np.abs(model.loss(perms, X, y) - base_loss).max())
    flips_tested, sign_dev = 0, None
    if any(flags):
        flipped = []
        for layer in range(layout.n_layers - 1):
            if not flags[layer]:
                continue
            for j in range(layout.sizes[layer + 1]):
                mask = np.zeros(layout.sizes[layer + 1], dtype=bool)
                mask[j] = True
                # the sigmoid's flip also shifts the next layer's biases (flip_units)
                flipped.append(flip_units(layout, theta, layer, mask, odd))
        flips_tested = len(flipped)
        sign_dev = (
            float(np.abs(model.forward(np.stack(flipped), X) - base_out).max()) if flipped else 0.0
        )
    _, g = model.loss_and_grad(theta, X, y)
    grad_dev = 0.0
    transforms = [
        random_transform(layout, rng, signs=flags if odd else False) for _ in range(n_random)
    ]
    if transforms:
        moved = np.stack([T(theta) for T in transforms])
        _, G = model.loss_and_grad(moved, X, y)
        grad_dev = float(max(np.abs(G[i] - T(g)).max() for i, T in enumerate(transforms)))
    T = transforms[0] if transforms else Transform.identity(layout.n_params)
    a = train(model, theta, X, y, lr=lr, epochs=gd_steps)
    b = train(model, T(theta), X, y, lr=lr, epochs=gd_steps)
    gd_dev = float(np.abs(b.theta - T(a.theta)).max())
    return SymmetryCheck(
        transpositions_tested=len(pairs),
        transpositions_total=total,
        sampled=sampled,
        output_deviation=out_dev,
        loss_deviation=loss_dev,
        sign_flips_tested=flips_tested,
        sign_output_deviation=sign_dev,
        gradient_deviation=grad_dev,
        gd_deviation=gd_dev,
        gd_steps=min(a.epochs, b.epochs),
        counts=model_group_counts(model),
    )


# ------------------------------------------------------------------ the analysis kind
@dataclass(frozen=True)
class SymmetryConfig:
    """The ``[analysis]`` section of ``kind = "symmetry"``: the unit-swap symmetry, verified.

    Attributes
    ----------
    max_pairs : int
        Pair swaps tried before sampling them.
    n_random : int
        Random group elements of the gradient check.
    gd_steps : int
        Gradient-descent steps of the equivariance check.
    trained : bool
        Verify on the network after training (else at θ⁽⁰⁾).
    """

    kind: str = "symmetry"
    max_pairs: int = setting(500, low=1)
    n_random: int = setting(20, low=1)
    gd_steps: int = setting(200, low=1)
    trained: bool = True


def worst_deviation(check: SymmetryCheck) -> float:
    """The largest of the check's deviations: the trial's value."""
    return max(
        check.output_deviation, check.loss_deviation, check.gradient_deviation, check.gd_deviation
    )


def run_symmetry(inputs: Inputs, config: SymmetryConfig) -> Outcome:
    """Train one network as the trainer says (unless ``trained`` is off) and verify the symmetry."""
    t, d = inputs.trainer, inputs.data
    rng = inputs.trial_rng(0)
    model, theta = inputs.new_model(rng)
    status = "untrained"
    if config.trained:
        res = train(model, theta, d.X_train, d.y_train, rng=rng, **t.train_kwargs(d.n_train))
        theta, status = res.theta, res.status
    check = verify_symmetry(
        model,
        theta,
        d.X_train,
        d.y_train,
        rng=inputs.analysis_rng,
        max_pairs=config.max_pairs,
        n_random=config.n_random,
        gd_steps=config.gd_steps,
        lr=t.lr,
    )
    return Outcome(
        check,
        worst_deviation(check),
        {"theta": theta, "sizes": np.asarray(model.sizes)},
        {"training": status},
    )


def _payload(check: SymmetryCheck) -> dict:
    """``--json``: whether it passed, then the check (large group sizes as strings)."""
    from landscape.typed import to_json

    out = to_json(check)
    out["counts"] = {k: str(v) for k, v in out["counts"].items()}
    return {"passed": check.passed(), "check": out}


KIND = Kind(
    name="symmetry",
    config=SymmetryConfig,
    result=SymmetryCheck,
    value="largest deviation under the symmetry",
    headline=lambda c: f"largest deviation under the symmetry = {worst_deviation(c):.4g}",
    run=run_symmetry,
    arrays="theta.npz",
    memory=hessian_memory,
    payload=_payload,
)
