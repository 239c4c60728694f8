"""Serverless Trading Platform: the trading core, its AWS adapters and the error contract."""
