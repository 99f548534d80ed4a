"""Colour: BackgroundNeutralization, SCNR, ColorSaturation (corrections), ChannelCombination,
ChannelExtraction, LRGBCombination (channels), LinearFit.
"""
