"""krstock.db"""
