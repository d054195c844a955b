"""Z-Image-Turbo in plain PyTorch: the S3-DiT, the Qwen3 text encoder, the FLUX VAE and the 8-step sampler."""
