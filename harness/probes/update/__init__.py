"""Driving the update channel: deliver an image, read the version back, judge what happened."""
