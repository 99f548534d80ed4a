"""Simulators (procfw additions), apart from the kernels: a simulated camera's raw frames
(camera), an LRGB scene (lrgb_scene, lrgb), a whole session (session), star fields with
known transformations (starfield).
"""
