"""mc-mesh: the node daemon and agent runtime."""
