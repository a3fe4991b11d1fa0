"""households"""
