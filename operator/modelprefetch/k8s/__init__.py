"""modelprefetch.k8s"""
