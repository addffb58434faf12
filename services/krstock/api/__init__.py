"""krstock.api"""
