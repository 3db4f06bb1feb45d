"""core.video"""
