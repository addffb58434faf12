"""krstock.marketdata"""
