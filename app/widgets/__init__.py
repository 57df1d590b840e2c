"""Widgets of the main window: the player now; timeline, attention view and labeller later."""
