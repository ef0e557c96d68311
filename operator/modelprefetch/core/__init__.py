"""modelprefetch.core"""
