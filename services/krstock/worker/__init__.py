"""krstock.worker"""
