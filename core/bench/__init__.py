"""core.bench"""
