import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current folder: the CLI writes studies/ and reports/ relative to it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
