"""Widgets of the main window: the player, the recognition overlay and panels, the timeline,
the attention view (and the labeller later)."""
