"""Pulumi components for example-app on AWS: one ComponentResource per concern, no config reading.

Components take typed, frozen Args built by `stacks/settings.py`; pure helpers (CIDR splitting, Helm
values, tags) live beside them without Pulumi imports so they are tested directly.
"""
