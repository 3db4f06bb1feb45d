"""core.stereo"""
