"""Store backends: the on-disk vector (hnswlib) and keyword (Whoosh) stores.

Registered in :mod:`coderag.backends.stores`; the index opens one of each per
generation (:mod:`coderag.ondisk.store_pair`).
"""
