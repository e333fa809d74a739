"""Registers this plugin through tradenode's hooks."""
