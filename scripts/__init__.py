"""Python helpers run by the Makefile (the shell scripts here are run directly)."""
