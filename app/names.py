"""How a class name reads on screen.

Models and label projects keep their class names as they were given ("jumping_jacks"); the
window shows them as words ("jumping jacks"). Only what a user reads goes through
`display_name`: exports, label projects and checkpoints keep the real names.
"""

from __future__ import annotations


def display_name(label: str) -> str:
    """`label` as a user reads it: underscores become spaces, runs of them one space."""
    return " ".join(label.replace("_", " ").split()) or label
