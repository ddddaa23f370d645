"""The `mc` and `mc-mesh` command-line interfaces."""
