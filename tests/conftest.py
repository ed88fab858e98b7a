"""Shared test fixtures."""

import pytest


@pytest.fixture(scope="session")
def mnist_available() -> bool:
    """True when MNIST can be read without the network (FFNN_DATA_DIR or the cache)."""
    from ffnn.datasets import DataUnavailableError, load_mnist

    try:
        load_mnist(download=False)
    except (DataUnavailableError, FileNotFoundError):
        return False
    return True
