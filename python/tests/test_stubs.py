"""The hand-written stub (sparq/_sparq.pyi) cannot go stale silently: every
public name of the compiled module, and every public attribute of its
classes, must be declared there, and the stub declares nothing that is gone."""
import ast
import inspect
import pathlib

import sparq
from sparq import _sparq

STUB = pathlib.Path(__file__).parents[1] / "sparq" / "_sparq.pyi"


def stub_declarations():
    tree = ast.parse(STUB.read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            members[node.name] = {
                n.name if not isinstance(n, ast.AnnAssign) else n.target.id
                for n in node.body
                if isinstance(n, (ast.FunctionDef, ast.AnnAssign))
            }
        elif isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
    return top, members


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_every_module_name_is_in_the_stub_and_back():
    top, _ = stub_declarations()
    assert public(_sparq.__all__) == public(top)
    assert set(sparq.__all__) == set(_sparq.__all__)


def test_every_class_member_is_in_the_stub():
    _, members = stub_declarations()
    for name in _sparq.__all__:
        cls = getattr(_sparq, name)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        declared = public(members[name])
        actual = public(vars(cls))
        assert actual == declared, f"{name}: module has {sorted(actual)}, stub {sorted(declared)}"


def test_the_stub_ships_with_the_package():
    package = pathlib.Path(sparq.__file__).parent
    assert (package / "_sparq.pyi").read_text() == STUB.read_text()
    assert (package / "py.typed").exists()


def test_everything_has_a_docstring():
    for name in public(_sparq.__all__):
        obj = getattr(_sparq, name)
        assert obj.__doc__, name
