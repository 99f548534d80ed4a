"""Mathematical morphology: MorphologicalTransformation (transformation)."""
