"""tradenode plugin."""
