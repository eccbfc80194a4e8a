import numpy as np
import pytest

from landscape.data import DATASETS, dataset_options, load_dataset

EXPECTED = {  # name: (task, d_0, d_L, N total)
    "moons": ("classification", 2, 2, 500),
    "circles": ("classification", 2, 2, 500),
    "blobs": ("classification", 2, 3, 500),
    "classification": ("classification", 20, 2, 500),
    "regression": ("regression", 10, 1, 500),
    "friedman1": ("regression", 10, 1, 500),
    "iris": ("classification", 4, 3, 150),
    "wine": ("classification", 13, 3, 178),
    "breast_cancer": ("classification", 30, 2, 569),
    "digits": ("classification", 64, 10, 1797),
    "diabetes": ("regression", 10, 1, 442),
    "xor": ("classification", 2, 2, 4),
    "teacher": ("regression", 2, 1, 200),
}


def test_dataset_registry_is_complete():
    # relu_teacher is never standardised: tests/test_frozen.py checks it against its closed form
    assert set(DATASETS) == {*EXPECTED, "relu_teacher"}


def test_relu_teacher_is_gaussian_inputs_and_a_sum_of_orthonormal_relu_units():
    ds = load_dataset(
        "relu_teacher", rng=np.random.default_rng(0), n_samples=5000, n_features=5, n_teacher=3
    )
    assert (ds.task, ds.n_inputs, ds.n_outputs, ds.n_train, len(ds.X_val)) == (
        "regression",
        5,
        1,
        4000,
        1000,
    )
    X = np.vstack([ds.X_train, ds.X_val])
    assert abs(X.mean()) < 0.02 and abs(X.std() - 1.0) < 0.02  # not standardised: raw N(0, 1)
    np.testing.assert_array_equal(ds.y_train, np.maximum(ds.X_train[:, :3], 0.0).sum(axis=1))
    with pytest.raises(ValueError, match="need 1 <= k <= d"):
        load_dataset("relu_teacher", rng=np.random.default_rng(0), n_features=2, n_teacher=3)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_load_dataset_shapes_and_standardisation(name):
    task, d0, dL, n = EXPECTED[name]
    ds = load_dataset(name, rng=np.random.default_rng(0))
    assert (ds.task, ds.n_inputs, ds.n_outputs) == (task, d0, dL)
    assert ds.n_train + len(ds.X_val) == n
    assert ds.X_train.shape[1] == ds.X_val.shape[1] == d0
    mean, std = ds.X_train.mean(axis=0), ds.X_train.std(axis=0)
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    # constant columns (digits' blank pixels) stay 0; all others have unit spread
    np.testing.assert_allclose(std[std > 0], 1.0, rtol=1e-12)
    if task == "regression":
        assert ds.y_train.mean() == pytest.approx(0.0, abs=1e-12)
        assert ds.y_train.std() == pytest.approx(1.0, rel=1e-12)
    else:
        assert ds.y_train.dtype.kind == "i"
        assert set(np.unique(ds.y_train)) == set(range(dL))
    assert ds.sizes([7]) == [d0, 7, dL]


def test_load_dataset_uses_training_statistics_only():
    raw = load_dataset("wine", rng=np.random.default_rng(4), standardize=False)
    std = load_dataset("wine", rng=np.random.default_rng(4))
    mu, sd = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    np.testing.assert_allclose(std.X_val, (raw.X_val - mu) / sd, rtol=1e-12)


def test_load_dataset_split_is_stratified():
    ds = load_dataset("iris", rng=np.random.default_rng(1), val_fraction=0.2)
    np.testing.assert_array_equal(np.bincount(ds.y_val), [10, 10, 10])


def test_load_dataset_is_seeded():
    a = load_dataset("moons", rng=np.random.default_rng(8), noise=0.3)
    b = load_dataset("moons", rng=np.random.default_rng(8), noise=0.3)
    c = load_dataset("moons", rng=np.random.default_rng(9), noise=0.3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)


def test_load_dataset_generator_options():
    ds = load_dataset(
        "blobs",
        rng=np.random.default_rng(0),
        n_samples=100,
        centers=5,
        n_features=3,
        val_fraction=0.25,
    )
    assert (ds.n_train, ds.n_inputs, ds.n_outputs) == (75, 3, 5)
    assert ds.options["centers"] == 5
    assert "noise" in dataset_options("moons") and "random_state" not in dataset_options("moons")


def test_load_dataset_xor_is_the_four_point_classic():
    ds = load_dataset("xor", rng=np.random.default_rng(0), standardize=False)
    np.testing.assert_array_equal(ds.X_train, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(ds.y_train, [0, 1, 1, 0])
    assert ds.X_val.shape == (0, 2)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("mnist", {}, "dataset 'mnist' is unknown; known: moons, circles"),
        ("moons", {"centers": 3}, "dataset 'moons' has no option 'centers'; allowed: n_samples"),
        ("moons", {"random_state": 3}, "has no option 'random_state'"),
        ("moons", {"val_fraction": 1.0}, r"val_fraction=1.0 must lie in \[0, 1\)"),
        ("moons", {"n_samples": -5}, "dataset 'moons' rejected options"),
        ("moons", {"rng": 3}, "rng=3 must be a numpy.random.Generator"),
    ],
)
def test_load_dataset_rejects_bad_input(name, kwargs, match):
    kwargs = {"rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        load_dataset(name, **kwargs)
