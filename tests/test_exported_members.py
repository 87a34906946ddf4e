import types

import tsur


def test_public_surface_is_exactly_all() -> None:
    public = {
        name
        for name in dir(tsur)
        if not name.startswith("_") and not isinstance(getattr(tsur, name), types.ModuleType)
    }
    assert public == set(tsur.__all__) - {"__version__"}
    assert len(set(tsur.__all__)) == len(tsur.__all__)  # ruff (RUF022) keeps it sorted


def test_errors_share_one_root() -> None:
    for name in (
        "ConfigError",
        "PluginError",
        "IngestError",
        "UnknownSource",
        "ProcessingError",
        "UnknownTerritory",
        "IllegalTransition",
        "NotFound",
        "StorageError",
        "AdapterError",
        "RateLimited",
    ):
        assert issubclass(getattr(tsur, name), tsur.TsurError)
