"""core.geometry"""
