import types

import tsur
from tsur import errors


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


def test_every_exception_tsur_defines_is_in_one_module_and_exported() -> None:
    """One tree in ``tsur.errors``: an error class defined anywhere else is a second home."""
    import ast
    from pathlib import Path

    src = Path(tsur.__file__).parent
    elsewhere = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.ClassDef)
                and node.name.endswith(("Error", "Warning"))
                and path.name != "errors.py"
            ):
                elsewhere.append(f"{path.relative_to(src)}:{node.lineno} {node.name}")
    assert elsewhere == []
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert getattr(tsur, name) is value, name
            if not issubclass(value, Warning):
                assert issubclass(value, tsur.TsurError), name
