"""core.depth"""
