"""modelprefetch.handlers"""
