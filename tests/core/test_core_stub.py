"""The typed stub `_core.pyi` must describe the real extension: same names, same kinds."""

import ast
import gc
import inspect
from pathlib import Path

import artefact._core as core

STUB = Path(core.__file__).with_name("_core.pyi")


def stub_names():
    gc.collect()  # no finalizer may run inside ast.parse (tests/conftest.py says why)
    gc.disable()
    try:
        tree = ast.parse(STUB.read_text())
    finally:
        gc.enable()
    funcs, classes = {}, {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            funcs[node.name] = [a.arg for a in node.args.args]
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return funcs, classes


def test_every_stub_function_exists_with_the_same_parameters():
    funcs, _ = stub_names()
    assert funcs, "stub has no functions"
    for name, params in funcs.items():
        obj = getattr(core, name)
        assert callable(obj), name
        sig = inspect.signature(obj)
        assert list(sig.parameters) == params, f"{name}: extension {list(sig.parameters)} vs stub {params}"


def test_every_public_extension_name_is_in_the_stub():
    funcs, classes = stub_names()
    public = {n for n in dir(core) if not n.startswith("_")}
    assert public == set(funcs) | set(classes)


def test_stub_classes_match_extension_members():
    _, classes = stub_names()
    for cls_name, members in classes.items():
        cls = getattr(core, cls_name)
        for m in members:
            assert hasattr(cls, m), f"{cls_name}.{m} missing from the extension"
