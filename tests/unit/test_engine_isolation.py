"""The engine never needs Qt: importing it works where PySide6 cannot be imported."""

import ast
import subprocess
import sys
from pathlib import Path

import stmanet

ENGINE = Path(stmanet.__file__).parent


def test_engine_imports_with_pyside6_unimportable():
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None\n"  # makes `import PySide6` raise ImportError
        "import pkgutil, importlib, stmanet\n"
        "for m in pkgutil.walk_packages(stmanet.__path__, 'stmanet.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "assert not any(n.startswith(('PySide6', 'app')) for n in sys.modules if sys.modules[n])\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_no_engine_module_imports_qt_or_the_app():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "app")]
    assert offenders == []
