"""core.models"""
