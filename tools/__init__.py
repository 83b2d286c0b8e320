"""Developer tooling: the offline engine environment, the sandbox cluster, drivers."""
