"""krstock.ai"""
