"""Utility processes: NewImage, ImageIdentifier, NoOperation, ImageContainer, Statistics."""
