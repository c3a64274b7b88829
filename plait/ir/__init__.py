"""plait's IR, the vocabulary every layer above it shares. A leaf: it imports nothing of plait but
``plait.errors``, ``plait.hashing`` and the version.

``nodes``: the ops and the node dataclasses (and the LOOP op's constants); ``plan``: Plan, a DAG
of nodes (networkx stays inside it); ``source``: where the user's code made a node; ``types``:
field types as names and as JSON; ``printer``: a plan's one text form; ``serialize``: its JSON
form; ``fingerprint``: the static half of content keys; ``tools``: the typed tools of agent loops.
"""
