"""One training loop and one evaluation loop for every variant and every machine (CPU, one GPU, torchrun)."""
