"""Each controller reaches the window only through its door, a `typing.Protocol` naming what
it uses; the main window has every member its controllers' doors name."""

from __future__ import annotations

import ast
import inspect

import pytest

from app.controllers import finetune, labelling, recognition
from app.main_window import MainWindow

DOORS = [
    (recognition, recognition.RecognitionWindow),
    (labelling, labelling.LabellingWindow),
    (finetune, finetune.FineTuneWindow),
]


def members(protocol: type) -> set[str]:
    names = {name for name in vars(protocol) if not name.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def window_uses(module) -> set[str]:
    """Every attribute the module reads off `window` or `self._window`."""
    used = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Attribute):
            continue
        target = node.value
        if (isinstance(target, ast.Name) and target.id == "window") or (
                isinstance(target, ast.Attribute) and target.attr == "_window"
                and isinstance(target.value, ast.Name) and target.value.id == "self"):
            used.add(node.attr)
    return used


@pytest.mark.parametrize(("module", "door"), DOORS, ids=lambda x: getattr(x, "__name__", ""))
def test_a_controller_uses_nothing_of_the_window_but_its_door(module, door):
    assert window_uses(module), "the controller should use the window somewhere"
    assert window_uses(module) == members(door)  # what it uses, and nothing more


@pytest.mark.parametrize(("module", "door"), DOORS, ids=lambda x: getattr(x, "__name__", ""))
def test_the_main_window_has_what_each_door_names(module, door):
    assert {name for name in members(door) if not hasattr(MainWindow, name)} == set()


def test_fine_tuning_sees_recognition_and_the_labeller_through_their_doors():
    assert members(finetune.ModelInUse) == {"model", "load_model"}
    assert members(finetune.ProjectSource) == {"projectChanged", "project_path", "flush"}
    assert members(finetune.ModelInUse) <= set(dir(recognition.RecognitionController))
    assert members(finetune.ProjectSource) <= set(dir(labelling.LabellingController))
