"""The LR range test (Smith 2017): checked on a quadratic, then through the CLI and a study."""

import numpy as np
import pytest
from fast import SETTINGS

import landscape
from landscape import MLP, load_dataset
from landscape.analysis.range_test import lr_range_test
from landscape.runs import records
from landscape.study import main


def _linear():
    ds = load_dataset("diabetes", rng=np.random.default_rng(0))
    model = MLP(ds.sizes([]), "identity", "mse")
    A = np.c_[ds.X_train, np.ones(ds.n_train)]
    lam = np.linalg.eigvalsh(A.T @ A / ds.n_train)[-1]
    return ds, model, model.init(np.random.default_rng(1)), lam


def test_on_a_quadratic_the_loss_falls_until_2_over_lambda_and_blows_up_only_beyond():
    ds, model, theta0, lam = _linear()
    rt = lr_range_test(model, theta0, ds.X_train, ds.y_train, lr_min=1e-4, lr_max=100.0)
    limit = 2.0 / lam
    # full-batch GD on a quadratic: every step with ε < 2/λ_max lowers E (theory)
    stable = rt.lr[:-1] < limit
    assert (np.diff(rt.loss)[stable] <= 1e-15).all()
    assert rt.lr_blowup is not None and rt.lr_blowup > limit
    assert rt.lr_start < rt.lr_steepest <= rt.lr_min_loss < rt.lr_blowup
    assert rt.lr_suggested == pytest.approx(rt.lr_min_loss / 10)
    assert rt.search_low == pytest.approx(rt.lr_start / 10)
    assert rt.search_high == pytest.approx(min(100.0, 10 * rt.lr_blowup))
    assert len(rt.lr) == len(rt.loss) == len(rt.smoothed) < 300  # it stopped at the blow-up


def test_minibatch_range_test_is_reproducible_and_checks_its_input():
    ds, model, theta0, _ = _linear()
    a = lr_range_test(
        model, theta0, ds.X_train, ds.y_train, batch_size=16, rng=np.random.default_rng(3)
    )
    b = lr_range_test(
        model, theta0, ds.X_train, ds.y_train, batch_size=16, rng=np.random.default_rng(3)
    )
    assert np.array_equal(a.loss, b.loss) and a.lr_suggested == b.lr_suggested
    for kwargs, msg in [
        ({"lr_min": 1.0, "lr_max": 0.5}, "0 < lr_min < lr_max"),
        ({"steps": 5}, "steps=5 must be an integer >= 10"),
        ({"beta": 1.0}, r"beta=1.0 must lie in \[0, 1\)"),
        ({"stop_factor": 1.0}, "stop_factor=1.0 must be > 1"),
        ({"batch_size": 16}, "needs rng"),
    ]:
        with pytest.raises(ValueError, match=msg):
            lr_range_test(model, theta0, ds.X_train, ds.y_train, **kwargs)


def test_lr_range_command_compares_with_the_stored_search(workdir, capsys):
    assert main(["lr_range", "lr_search_linear", "--storage", "s.db"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("LR range test: ") and "blew up at ε ≈" in out[0]
    assert out[1].startswith("  suggested ε = ") and len(out) == 3  # no stored search yet
    assert (workdir / out[2]).stat().st_size > 5000
    assert not (workdir / "s.db").exists()  # nothing written to a storage
    run = ["lr_search_linear", "--storage", "s.db", "--n-trials", "4", "--no-report"]
    assert main([*run, "--set", "study.bisect=0", "--set", "trainer.epochs=300"]) == 0
    capsys.readouterr()
    assert main(["lr_range", "lr_search_linear", "--storage", "s.db"]) == 0
    assert "  the search's best ε = " in capsys.readouterr().out
    assert main(["lr_range", "nope"]) == 2
    assert "spec 'nope' is unknown" in capsys.readouterr().err


def test_a_study_seeded_by_the_range_test_searches_its_range(workdir):
    run = landscape.run_study(
        "lr_search",
        storage="r.db",
        overrides=[*SETTINGS, "study.range_test=true"],
        n_trials=4,
    )
    rt = records.range_test(run.study)
    (lr,) = [p for p in records.search_space(run.study) if p["name"] == "lr"]
    assert (lr["low"], lr["high"]) == (rt["search_low"], rt["search_high"])
    assert all(rt["search_low"] <= t.params["lr"] <= rt["search_high"] for t in run.study.trials)
    assert run.summary.range_test == rt and "LR range test: " in run.text
    assert (workdir / "reports" / "lr_search" / "range_test.png").stat().st_size > 5000
    # a rerun resolves the same bounds, so it is the same setup
    again = landscape.run_study(
        "lr_search", storage="r.db", overrides=[*SETTINGS, "study.range_test=true"], n_trials=1
    )
    assert len(again.study.trials) == 5


def test_the_range_test_needs_a_log_search_of_the_learning_rate(capsys):
    assert (
        main(
            [
                "batch_search",
                "--set",
                "search.lr.log=false",
                "--set",
                "study.range_test=true",
                "--no-progress",
            ]
        )
        == 2
    )
    assert "study.range_test seeds the bounds of ε" in capsys.readouterr().err
