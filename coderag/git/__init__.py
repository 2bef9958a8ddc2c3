"""Git: plumbing that lists and reads the blobs of a tree, and the hook installer.

The first step of the data's flow (git -> read -> chunk -> embed -> store -> search):
nothing here knows about chunks, vectors or stores.
"""
