"""Root pytest configuration: skip doctest collection of the torch modules where torch is absent."""

import importlib.util

collect_ignore = (
    []
    if importlib.util.find_spec("torch")
    else [
        "src/serkit/models/_torch.py",
        "src/serkit/models/_cnn1d.py",
        "src/serkit/models/_specnet.py",
    ]
)
