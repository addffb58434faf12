"""krstock.bus"""
