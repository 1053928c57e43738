import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every sparse test on one intra-op thread (tiny models on a shared 2-core machine)."""
    yield
