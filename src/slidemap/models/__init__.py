"""Susceptibility and potential-landslide classifiers, with spatial cross-validation."""
