"""Files shipped with ST-MANet Coach: models/demo.safetensors, videos/demo.mp4 (+ demo.json,
its expected timeline) and icons.

A package only so that importlib.resources, setuptools' package data and PyInstaller find
these files; stmanet.bundled is the one place that looks them up.
"""
