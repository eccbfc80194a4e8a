"""The rules across fields and against the data: the one place a spec is refused.

Each field's own rule sits beside it (:mod:`landscape.rules`, read here for every section);
this module adds what spans fields (a metric that needs validation data, a search the bisection
can use), what needs the data (batch sizes up to N, each kind's own needs, the memory), and the
searched parameters' values at the ends of their ranges. Nothing else refuses a spec, and all
of it runs before any storage is opened.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Any

import numpy as np

from landscape.analysis import KINDS, Inputs
from landscape.data import Dataset, dataset_options
from landscape.model import MLP
from landscape.rules import RuleError, check_fields
from landscape.schedules import SCHEDULES, make_schedule
from landscape.spec.schema import (
    PARAM_TYPES,
    PRUNERS,
    SAMPLERS,
    ModelSection,
    Param,
    Spec,
    SpecError,
    TrainerSection,
    _describe,
    _type_ok,
)


# ------------------------------------------------------------------------ validation
def _one_of(where: str, value: Any, allowed: tuple | list) -> None:
    if value not in allowed:
        raise SpecError(f"{where}={value!r} is unknown; allowed: {', '.join(map(str, allowed))}")


def _rules(obj: Any, prefix: str) -> None:
    """The rules of every field of a section (:mod:`landscape.rules`), as SpecErrors."""
    try:
        check_fields(obj, prefix)
    except RuleError as exc:
        raise SpecError(str(exc)) from None


def validate_static(spec: Spec) -> None:
    """Check what needs no data: each field's rule, then the rules across fields.

    Raises
    ------
    SpecError
    """
    st, m, t = spec.study, spec.data, spec.trainer
    _rules(st, "study")
    _rules(m, "data")
    _rules(spec.model, "model")
    _rules(t, "trainer")
    _validate_study(spec)
    _validate_data(spec)
    _validate_model(spec)
    _validate_trainer(spec)
    _one_of("sampler.name", spec.sampler.name, SAMPLERS)
    _one_of("pruner.name", spec.pruner.name, PRUNERS)
    names = [p.name for p in spec.search]
    for p in spec.search:
        _validate_param(spec, p, names)
    _validate_study_needs(spec)
    a = spec.analysis
    if a is not None:
        _rules(a, "analysis")
        try:
            if hasattr(a, "check"):
                a.check()
        except RuleError as exc:
            raise SpecError(str(exc)) from None
        if spec.search:
            raise SpecError(
                f"an analysis spec ({a.kind}) searches nothing; remove its [search] tables"
            )


def _validate_study(spec: Spec) -> None:
    st = spec.study
    if st.metric.startswith("val_") and (
        spec.data.val_fraction == 0.0
        or (spec.data.val_fraction is None and spec.data.name == "xor")
    ):
        raise SpecError(
            f"study.metric={st.metric!r} needs validation data; set data.val_fraction > 0"
        )
    if "accuracy" in st.metric and spec.model.loss != "cross_entropy":
        raise SpecError(f"study.metric={st.metric!r} needs model.loss='cross_entropy'")
    if st.report_every % spec.trainer.eval_every:
        raise SpecError(
            f"study.report_every={st.report_every} must be a multiple of "
            f"trainer.eval_every={spec.trainer.eval_every} (reports need an evaluated epoch)"
        )


def _validate_data(spec: Spec) -> None:
    allowed = dataset_options(spec.data.name)
    for key in spec.data.options:
        if key not in allowed:
            raise SpecError(
                f"data.options.{key} is not an option of dataset {spec.data.name!r}; allowed: "
                f"{', '.join(allowed) or 'none'}"
            )


def _validate_model(spec: Spec) -> None:
    m = spec.model
    n_layers = len(m.hidden) + 1
    blocks = [f"{p}{layer}" for layer in range(1, n_layers + 1) for p in "Wb"]
    for key, value in m.frozen.items():
        if key not in blocks:
            raise SpecError(
                f"model.frozen.{key} is not a parameter block of this network; allowed: "
                f"{', '.join(blocks)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"model.frozen.{key}={value!r} must be a number")
        if not math.isfinite(value):
            raise SpecError(f"model.frozen.{key}={value!r} must be a finite number")
    if len(m.frozen) == len(blocks):
        raise SpecError("model.frozen freezes every parameter block; nothing would be trained")


def _validate_trainer(spec: Spec) -> None:
    t = spec.trainer
    try:
        make_schedule(t.schedule, **t.schedule_params)
    except ValueError as exc:
        raise SpecError(f"trainer.schedule_params: {exc}") from None


def _validate_study_needs(spec: Spec) -> None:
    """What ``study.range_test`` and ``study.bisect`` need of the search."""
    if spec.study.range_test and (spec.search or spec.analysis is not None):
        lr = [p for p in spec.search if p.target == "trainer.lr"]
        if not (len(lr) == 1 and lr[0].type == "float" and lr[0].log and lr[0].step is None):
            raise SpecError(
                "study.range_test seeds the bounds of ε: it needs a search of trainer.lr of "
                "type float with log = true"
            )
    # (a trial's own spec has no search left: only the study's is checked here)
    if (
        spec.study.bisect
        and (spec.search or spec.analysis is not None)
        and not (
            len(spec.search) == 1
            and spec.search[0].target == "trainer.lr"
            and spec.search[0].type == "float"
            and spec.search[0].step is None
        )
    ):
        raise SpecError(
            f"study.bisect={spec.study.bisect} bisects ε alone: it needs a search of "
            "trainer.lr only, of type float without a step"
        )


_SEARCHABLE = {f"trainer.{f.name}" for f in dataclasses.fields(TrainerSection)} | {
    f"model.{f.name}" for f in dataclasses.fields(ModelSection)
}


def _validate_param(spec: Spec, p: Param, names: list[str]) -> None:
    where = f"search.{p.name}"
    _one_of(f"{where}.type", p.type, PARAM_TYPES)
    target_ok = p.target in _SEARCHABLE or p.target.startswith(
        ("trainer.schedule_params.", "data.options.")
    )
    if not target_ok:
        raise SpecError(
            f"{where}.target={p.target!r} is not searchable; use trainer.FIELD, model.FIELD, "
            "trainer.schedule_params.NAME or data.options.NAME"
        )
    hint = _target_hint(p.target)
    if hint is not None and p.type in ("float", "int", "pow2"):
        sample = 0.5 if p.type == "float" else 1
        if not _type_ok(sample, hint)[0] or (p.type == "float" and _is_int_only(hint)):
            kind = _describe(hint)
            raise SpecError(
                f"{where}: a {p.type} search cannot set {p.target}, which holds {kind}"
                + ('; use type = "int"' if p.type == "float" and "int" in kind else "")
            )
    if hint is not None and p.type == "categorical":
        for c in p.choices or ():
            if not _type_ok(c, hint)[0]:
                raise SpecError(
                    f"{where}.choices: {c!r} cannot be a value of {p.target}, which holds "
                    f"{_describe(hint)}"
                )
    for key in p.when:
        if key not in names or key == p.name:
            raise SpecError(f"{where}.when names {key!r}, which is not another searched parameter")
    if p.type == "categorical":
        if not p.choices:
            raise SpecError(f"{where}.choices must list at least one value")
        for c in p.choices:
            if not (c is None or isinstance(c, bool | int | float | str)):
                # Optuna stores a categorical parameter's choices as scalars only
                raise SpecError(
                    f"{where}.choices: {c!r} is not a number, string, boolean or none; Optuna "
                    "stores only such choices (search a list-valued field through its parts)"
                )
        if p.target == "trainer.schedule":
            for c in p.choices:
                _one_of(f"{where}.choices[]", c, tuple(SCHEDULES))
        return
    if p.type == "pow2":
        low = 1 if p.low is None else p.low
        if int(low) != low or low < 1:
            raise SpecError(f"{where}.low={p.low!r} must be an integer >= 1")
        bad_high = (
            p.high != "N"
            if isinstance(p.high, str)
            else (p.high is not None and (int(p.high) != p.high or p.high < low))
        )
        if bad_high:
            raise SpecError(f"{where}.high={p.high!r} must be 'N' or an integer >= low={low}")
        return
    if p.low is None or p.high is None:
        raise SpecError(f"{where} needs low and high")
    if isinstance(p.high, str):
        raise SpecError(f"{where}.high={p.high!r} must be a number")
    if not (math.isfinite(p.low) and math.isfinite(p.high)):
        raise SpecError(f"{where}: low={p.low!r} and high={p.high!r} must be finite")
    if p.low > p.high:
        raise SpecError(f"{where}: low={p.low!r} > high={p.high!r}; low must be <= high")
    if p.log and p.low <= 0:
        raise SpecError(f"{where}.low={p.low!r} must be > 0 on a log scale")
    if p.type == "int" and (int(p.low) != p.low or int(p.high) != p.high):
        raise SpecError(f"{where}: an int parameter needs integer low and high")
    if p.log and p.step is not None:
        raise SpecError(f"{where}: step cannot be combined with log = true")
    if p.step is not None and not p.step > 0:
        raise SpecError(f"{where}.step={p.step!r} must be > 0")
    if p.type == "int" and p.step is not None and int(p.step) != p.step:
        raise SpecError(f"{where}.step={p.step!r} must be an integer for an int parameter")
    if p.target == "trainer.lr" and p.low <= 0:
        raise SpecError(f"{where}.low={p.low!r}: a learning rate must be > 0")


def _target_hint(target: str) -> Any:
    """The type hint of a searched dataclass field (None for free-form dict entries)."""
    section, _, name = target.partition(".")
    cls = {"trainer": TrainerSection, "model": ModelSection}.get(section)
    if cls is None or "." in name:
        return None
    return typing.get_type_hints(cls).get(name)


def _is_int_only(hint: Any) -> bool:
    arms = typing.get_args(hint) or (hint,)
    return int in arms and float not in arms


def pow2_choices(low: int, high: int) -> list[int]:
    """Powers of two from ``low`` up to ``high``, plus ``high`` itself (the full batch)."""
    out = []
    b = 1
    while b <= high:
        if b >= low:
            out.append(b)
        b *= 2
    if not out or out[-1] != high:
        out.append(high)
    return out


def validate_with_data(spec: Spec, data: Dataset) -> Inputs:
    """Check what needs the data; return what an analysis gets (:class:`Inputs`).

    Batch sizes must lie in [1, N]; the searched parameters must make valid trials at the ends
    of their ranges; an analysis kind refuses the ``[trainer]`` fields it would not use and what
    its config cannot do with these data (its ``trainer`` and ``check`` hooks); the run must
    fit in the memory this machine has free.

    Raises
    ------
    SpecError
    """
    n_train = data.n_train
    validate_batches(spec, n_train)
    validate_search(spec, n_train)
    inputs = inputs_of(spec, data)
    a = spec.analysis
    if a is not None:
        kind = KINDS[a.kind]
        try:
            if kind.trainer is not None:
                kind.trainer(spec.trainer)
            if kind.check is not None:
                kind.check(inputs, a)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    check_memory(spec, data)
    return inputs


def validate_batches(spec: Spec, n_train: int) -> None:
    """Batch sizes, the trainer's and the searched ones, lie in [1, N]."""
    t = spec.trainer
    if t.batch_size is not None and t.batch_size > n_train:
        raise SpecError(f"trainer.batch_size={t.batch_size} is outside [1, N={n_train}]")
    if (
        t.method == "minibatch"
        and t.batch_size is None
        and not any(p.target == "trainer.batch_size" for p in spec.search)
    ):
        raise SpecError("trainer.method='minibatch' needs trainer.batch_size or a search over it")
    for p in spec.search:
        if p.target != "trainer.batch_size":
            continue
        where = f"search.{p.name}"
        if p.type == "pow2":
            high = n_train if p.high in (None, "N") else int(p.high)
            if high > n_train or (p.low or 1) > n_train:
                raise SpecError(f"{where}: batch sizes up to {high} are outside [1, N={n_train}]")
        elif p.type == "categorical":
            for c in p.choices or ():
                if not (isinstance(c, int) and 1 <= c <= n_train):
                    raise SpecError(
                        f"{where}.choices: batch size {c!r} is outside [1, N={n_train}]"
                    )
        elif p.low < 1 or p.high > n_train:
            raise SpecError(
                f"{where}: batch sizes [{p.low:g}, {p.high:g}] are outside [1, N={n_train}]"
            )
        if t.method != "minibatch":
            raise SpecError(f"{where} searches the batch size: set trainer.method='minibatch'")


def validate_search(spec: Spec, n_train: int) -> None:
    """Check every searched parameter as a trial would use it, before anything is stored.

    The spec of a trial is validated at the ends of each range and at every choice, with the
    parameters its ``when`` conditions need, so a value no trial could train with is refused
    here rather than failing a trial.

    Raises
    ------
    SpecError
    """
    for p in spec.search:
        if p.type == "categorical":
            values = list(p.choices or ())
        elif p.type == "pow2":
            high = n_train if p.high in (None, "N") else int(p.high)
            values = pow2_choices(int(p.low or 1), high)
        elif p.type == "int":
            values = [int(p.low), int(p.high)]
        else:
            values = [p.low, p.high]
        for value in values:
            trial_values = {**p.when, p.name: value}
            try:
                validate_static(dataclasses.replace(apply_params(spec, trial_values), search=()))
            except SpecError as exc:
                raise SpecError(f"search.{p.name}={value!r} makes a trial invalid: {exc}") from None


def apply_params(spec: Spec, values: dict[str, Any]) -> Spec:
    """Return the spec with each searched parameter's value written to its target field."""
    by_name = {p.name: p for p in spec.search}
    for name, value in values.items():
        spec = _set_path(spec, by_name[name].target.split("."), value)
    return spec


def _set_path(obj: Any, parts: list[str], value: Any) -> Any:
    head = parts[0]
    if dataclasses.is_dataclass(obj):
        child = getattr(obj, head)
        new = value if len(parts) == 1 else _set_path(child, parts[1:], value)
        if isinstance(new, list):
            new = tuple(new)
        return dataclasses.replace(obj, **{head: new})
    if isinstance(obj, dict):
        new = dict(obj)
        new[head] = value if len(parts) == 1 else _set_path(obj.get(head, {}), parts[1:], value)
        return new
    raise SpecError(f"cannot set {'.'.join(parts)} on {type(obj).__name__}")


# ------------------------------------------------------------------------ the inputs
def model_of(spec: Spec, data: Dataset, hidden: list[int] | None = None) -> MLP:
    """The spec's network for the data: sizes, activation, loss and frozen blocks.

    ``hidden`` replaces the spec's hidden widths (the census of minima over widths).
    """
    m = spec.model
    widths = list(m.hidden) if hidden is None else list(hidden)
    return MLP(data.sizes(widths), m.activation, m.loss, m.frozen)


def inputs_of(spec: Spec, data: Dataset) -> Inputs:
    """What an analysis gets from the spec and its data (:class:`Inputs`)."""
    m = spec.model

    def new_model(
        rng: np.random.Generator, hidden: list[int] | None = None
    ) -> tuple[MLP, np.ndarray]:
        model = model_of(spec, data, hidden)
        return model, model.init(rng, scheme=m.init, scale=m.init_scale)

    return Inputs(
        data=data,
        trainer=spec.trainer,
        seed=spec.study.seed,
        new_model=new_model,
        vary_init=spec.study.vary_init,
    )


# ------------------------------------------------------------------------ memory
def memory_needed(spec: Spec, data: Dataset) -> dict[str, int]:
    """Estimate the bytes one run of the spec holds at its peak, by what holds them.

    The widest model the spec may build is counted (a search over ``model.hidden`` counts its
    widest choice). A trial of a search holds one θ (and the ~6 vectors of that size a trainer
    keeps: gradient, best, start, step, …) and its (N, Σ widths) activations, forward and
    backward (~4 arrays); an analysis kind states its own needs (its ``memory`` hook: starts
    trained at once, Hessians, end points kept).

    Returns
    -------
    dict of str to int
    """
    hiddens = [tuple(spec.model.hidden)]
    for p in spec.search:
        if p.target == "model.hidden" and p.choices:
            hiddens += [tuple(c) if isinstance(c, list | tuple) else (c,) for c in p.choices]
    kind = KINDS[spec.analysis.kind] if spec.analysis is not None else None
    n = data.n_train + data.X_val.shape[0]
    worst: dict[str, int] = {}
    for hidden in hiddens:
        sizes = data.sizes(list(hidden))
        d = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        parts = {"theta": 8 * 6 * d, "activations": 8 * 4 * n * sum(sizes)}
        if kind is not None and kind.memory is not None:
            parts.update(kind.memory(spec.analysis, d, n, sizes))
        if sum(parts.values()) > sum(worst.values(), 0):
            worst = parts
    return worst


def available_memory() -> int:
    """Bytes this machine can give a new process without swapping (``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux: the physical memory is the bound
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(spec: Spec, data: Dataset) -> None:
    """Refuse a spec whose run would not fit in the memory this machine has free.

    Raises
    ------
    SpecError
        Naming the estimate, what dominates it, and the memory available.
    """
    parts = memory_needed(spec, data)
    need, have = sum(parts.values()), available_memory()
    if need > have:
        what = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items() if v)
        raise SpecError(
            f"this spec needs about {_gib(need)} ({what}) but {_gib(have)} is available; "
            "use narrower model.hidden, fewer samples, fewer analysis.n_starts or a smaller "
            "analysis.chunk"
        )
