"""Ablation sweeps: variants × seeds of one experiment, resumable, with a markdown report and plots."""
