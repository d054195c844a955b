"""procedural"""
