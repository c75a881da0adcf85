"""Suite-wide pytest set-up. Keep it small: shared fixtures live in plugin modules listed here."""

pytest_plugins = [
    "tests.browser.harness",  # lab, chromium, lab_page, net, lab_notebook (real-browser tests)
    "tests.hubserver",  # fake_hub, unreachable_hub, embedded_copy (a local hub on 127.0.0.1)
]


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.gpu` tests need CUDA; where torch sees none (CI) they are skipped, by design."""
    import pytest
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
