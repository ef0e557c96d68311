"""modelprefetch.api"""
