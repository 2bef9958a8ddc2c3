"""The fleet: many repositories indexed into one PostgreSQL database, on a Dask cluster.

The data flows as in a single index (git -> read -> chunk -> embed -> store),
but every step's state lives in the database, so any machine can update any
repository and write only what changed:

* :mod:`.schema`: the tables and their versioned migrations;
* :mod:`.sources`: ``repos.txt``, repository names, local mirrors of remote ones;
* :mod:`.writer`: one repository's generations (rows born and dying per generation);
* :mod:`.indexer`: one repository's update, from a tree diff to the generation switch;
* :mod:`.cluster`: many repositories on Dask distributed (a ``LocalCluster`` by default);
* :mod:`.search`: hybrid search across repositories;
* :mod:`.cli`: ``coderag-fleet index | search | status | migrate``.
"""
