"""Susceptibility maps: whole-grid prediction, classes, frequency ratio, uncertainty."""
