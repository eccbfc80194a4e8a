import pytest

from landscape.spec import (
    SpecError,
    find_spec,
    known_specs,
    parse_spec,
    pow2_choices,
    validate_batches,
)

SHIPPED = ["batch_search", "lr_search", "schedule_search"]


def _spec(name="lr_search", overrides=()):
    return parse_spec(*find_spec(name), overrides)


def test_spec_shipped_specs_parse():
    assert set(SHIPPED) <= set(known_specs())
    for name in SHIPPED:
        spec = _spec(name)
        assert spec.name == name and spec.direction == "minimize"


def test_spec_lr_search_spans_both_failure_modes():
    (lr,) = _spec().search
    assert (lr.target, lr.log, lr.low, lr.high) == ("trainer.lr", True, 1e-5, 1e2)


def test_spec_schedule_search_covers_every_schedule():
    spec = _spec("schedule_search")
    choices = next(p for p in spec.search if p.name == "schedule").choices
    assert set(choices) == {"constant", "linear", "inverse_time", "step", "exponential", "cosine"}
    conditional = {p.name: p.when for p in spec.search if p.when}
    assert conditional["step.gamma"] == {"schedule": "step"}


def test_spec_overrides_reach_every_level():
    spec = _spec(
        overrides=[
            "data.name=moons",
            "data.options.noise=0.3",
            "trainer.epochs=50",
            "model.hidden=[8, 8]",
            "search.lr.high=10",
            "study.vary_init=true",
            "trainer.schedule=inverse_time",
            "trainer.schedule_params.tau=5",
        ]
    )
    assert spec.data.name == "moons" and spec.data.options == {"noise": 0.3}
    assert spec.trainer.epochs == 50 and spec.model.hidden == (8, 8)
    assert spec.search[0].high == 10.0 and spec.study.vary_init is True


def test_spec_int_is_accepted_for_float_fields():
    spec = _spec(overrides=["trainer.gtol=1"])
    assert spec.trainer.gtol == 1.0 and isinstance(spec.trainer.gtol, float)


def test_spec_resolved_dict_round_trips_through_json():
    import json

    d = _spec("schedule_search").to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["model"]["hidden"] == [32]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data.name=mnist"], "data.name='mnist' is unknown; allowed: moons, circles"),
        (["search.lr.low=0"], r"search.lr.low=0.0 must be > 0 on a log scale"),
        (["search.lr.low=-1"], r"search.lr.low=-1.0 must be > 0 on a log scale"),
        (["search.lr.low=10", "search.lr.high=1"], r"low=10.0 > high=1.0"),
        (["study.n_trials=0"], "study.n_trials=0 must be an integer >= 1"),
        (["study.n_trials=-3"], "study.n_trials=-3 must be an integer >= 1"),
        (["trainer.epochs=abc"], "trainer.epochs='abc' has the wrong type; expected int"),
        (["trainer.epoch=5"], "'epoch' is not a field of trainer; allowed: method, epochs"),
        (["training.epochs=5"], "'training' is not a spec section"),
        (["search.momentum.low=1"], "no searched parameter 'momentum'"),
        (["trainer.epochs"], "must look like key=value"),
        (["data.options.centers=3"], "data.options.centers is not an option of dataset"),
        (["model.activation=softplus"], "model.activation='softplus' is unknown"),
        (["trainer.schedule=warmup"], "trainer.schedule='warmup' is unknown"),
        (["study.metric=val_acc"], "study.metric='val_acc' is unknown"),
        (["trainer.eval_every=3"], "report_every=50 must be a multiple of trainer.eval_every=3"),
        (["sampler.name=cmaes"], "sampler.name='cmaes' is unknown; allowed: tpe, random, qmc"),
    ],
)
def test_spec_rejects_bad_values_in_one_line(overrides, match):
    with pytest.raises(SpecError, match=match) as info:
        _spec(overrides=overrides)
    assert "\n" not in str(info.value)


def test_spec_unknown_name_lists_known():
    with pytest.raises(SpecError, match="spec 'lr_serch' is unknown; known: .*lr_search"):
        find_spec("lr_serch")


def test_spec_from_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[data]\nname = "iris"\n[search.lr]\ntarget = "trainer.lr"\nlow = 0.01\n'
        "high = 1.0\nlog = true\n"
    )
    spec = parse_spec(*find_spec(str(path)))
    assert (spec.name, spec.data.name, spec.search[0].name) == ("mine", "iris", "lr")


def test_spec_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[data\nname=")
    with pytest.raises(SpecError, match="spec 'broken' is not valid TOML"):
        parse_spec(*find_spec(str(path)))


def test_pow2_choices_run_from_online_to_batch():
    assert pow2_choices(1, 1437) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1437]
    assert pow2_choices(4, 64) == [4, 8, 16, 32, 64]


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        (
            "batch_search",
            ["search.batch_size.high=5000"],
            r"batch sizes up to 5000 are outside \[1, N=1437\]",
        ),
        (
            "lr_search",
            ["trainer.method=minibatch", "trainer.batch_size=2000"],
            r"trainer.batch_size=2000 is outside \[1, N=1437\]",
        ),
        ("batch_search", ["trainer.method=gd"], "set trainer.method='minibatch'"),
    ],
)
def test_spec_batch_sizes_checked_against_n(name, overrides, match):
    spec = _spec(name, overrides)
    with pytest.raises(SpecError, match=match):
        validate_batches(spec, 1437)


def test_spec_categorical_batch_sizes_checked():
    spec = _spec(
        "batch_search",
        ["search.batch_size.type=categorical", "search.batch_size.choices=[1, 64, 0]"],
    )
    with pytest.raises(SpecError, match=r"batch size 0 is outside \[1, N=100\]"):
        validate_batches(spec, 100)


def test_spec_units_named_once_and_resolved_spec_round_trips_through_toml():
    # escape's batch sizes and spurious's sizes name their trials' units: each once
    with pytest.raises(SpecError, match=r"analysis.batches: 8 listed twice; list each once"):
        _spec("escape", ["analysis.batches=[1, 8, 8]"])
    with pytest.raises(SpecError, match=r"analysis.sizes: '6:6' listed twice"):
        _spec("spurious", ['analysis.sizes=["6:6", "7:7", "6:6"]'])
    # the stored spec.toml parses back to the same resolved spec, for every shipped spec
    for name in known_specs():
        spec = _spec(name, [])
        text = spec.to_toml()
        assert text.startswith(f"# resolved spec {name!r}")
        assert parse_spec(name, text, []) == spec, name
