"""core.viewer"""
