"""MissionControl control-plane core: manifests, validation, state in Git."""

__version__ = "0.1.0"
