"""Shipped files (demo model, demo video) are found in one place, stmanet.bundled: in a frozen
bundle (sys._MEIPASS), through importlib.resources, and in the source checkout."""

import sys
from pathlib import Path

import pytest

from stmanet import bundled
from stmanet.engine import inference

ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No installed copy and no source tree hold any shipped file."""
    empty = tmp_path / "empty-checkout" / "resources"
    monkeypatch.setattr(bundled, "_SOURCE_TREE", empty)
    monkeypatch.setattr(bundled, "_package_root", lambda: None)
    return empty


@pytest.fixture
def frozen_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A simulated PyInstaller bundle: sys.frozen set, data files under sys._MEIPASS."""
    meipass = tmp_path / "bundle" / "_internal"
    meipass.mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    return meipass


def test_a_frozen_bundle_finds_its_files_under_meipass(frozen_at, nowhere):
    model = _write(frozen_at / "resources" / "models" / "demo.safetensors")
    video = _write(frozen_at / "resources" / "videos" / "demo.mp4")
    assert bundled.frozen_root() == frozen_at / "resources"
    assert bundled.bundled_demo_model() == model
    assert bundled.bundled_demo_video() == video
    assert inference.bundled_demo_model() == model  # the engine's name asks the same place


def test_the_frozen_bundle_wins_over_the_source_tree(frozen_at, tmp_path, monkeypatch):
    source = tmp_path / "checkout" / "resources"
    _write(source / "models" / "demo.safetensors")
    monkeypatch.setattr(bundled, "_SOURCE_TREE", source)
    inside = _write(frozen_at / "resources" / "models" / "demo.safetensors")
    assert bundled.search_roots()[0] == frozen_at / "resources"
    assert bundled.bundled_demo_model() == inside


def test_a_frozen_bundle_without_the_demo_model_says_where_it_looked(frozen_at, nowhere):
    assert bundled.bundled_demo_model() is None
    message = bundled.describe_missing(*bundled.DEMO_MODEL)
    assert "resources/models/demo.safetensors is not installed" in message
    assert str(frozen_at / "resources" / "models" / "demo.safetensors") in message


def test_not_frozen_means_no_meipass_lookup(monkeypatch, tmp_path):
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert bundled.frozen_root() is None


def test_files_are_found_through_importlib_resources(tmp_path, monkeypatch):
    """An installed copy: the `resources` package somewhere on sys.path, not in a checkout."""
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setattr(bundled, "_SOURCE_TREE", tmp_path / "no-checkout" / "resources")
    site = tmp_path / "site-packages"
    _write(site / "resources" / "__init__.py", b"")
    model = _write(site / "resources" / "models" / "demo.safetensors")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "resources", raising=False)
    assert bundled.search_roots() == [site / "resources", tmp_path / "no-checkout" / "resources"]
    assert bundled.bundled_demo_model() == model
    assert bundled.bundled_demo_video() is None
    sys.modules.pop("resources", None)  # the next test imports the real one again


def test_the_source_checkout_is_the_last_resort(monkeypatch, tmp_path):
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setattr(bundled, "_package_root", lambda: None)
    source = tmp_path / "checkout" / "resources"
    video = _write(source / "videos" / "demo.mp4")
    monkeypatch.setattr(bundled, "_SOURCE_TREE", source)
    assert bundled.bundled_demo_video() == video


def test_the_repository_resources_folder_is_a_package_importlib_can_read():
    assert (ROOT / "resources" / "__init__.py").is_file()
    assert bundled._package_root() == ROOT / "resources"


def test_an_installed_copy_ships_the_resources_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert "resources*" in setuptools["packages"]["find"]["include"]
    patterns = " ".join(setuptools["package-data"]["resources"])
    for suffix in ("safetensors", "mp4", "json", "svg", "png"):
        assert f"*.{suffix}" in patterns
    assert "pyinstaller" not in " ".join(config["project"]["optional-dependencies"]["dev"])
    assert any(d.startswith("pyinstaller") for d in
               config["project"]["optional-dependencies"]["bundle"])
