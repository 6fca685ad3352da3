"""Leaderboards, findings and the regression check, read from stored results."""
