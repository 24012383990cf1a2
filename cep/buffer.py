"""The shared buffer: the layout of buffer nodes and partial matches, and what reads them.

A buffer node is a tuple `(stage_name, event, ts, seq, previous_node)`: the newest event of a
partial match, linked to the one before. In a run with `dedupe_runs(key)` it has a sixth field, the
`(stage_name, key(event))` pairs of its whole chain, newest first (`key_sequence_of`), built from the
previous node's when the node is made: one key call per node instead of a walk per partial match.
Branches that share a prefix share those tuples, so an event taken once is stored once however
many branches hold it (the shared buffer of SASE/Flink, with the branch structure given by the
links instead of Dewey numbers).

A partial match is a tuple `(node, start_ts, start_seq, rank)`: its newest node, where it
started, and its rank (Flink's visiting order, see below).

Tuples, not classes: the run builds one node per taken event and one partial match per
successor, and tuples are the cheapest immutable records Python has. The `NODE_*` and `PM_*`
constants name their fields; code off the hot path reads them by name, while the hot loops of
`cep.runtime` and `cep.context` keep the literal index (a module constant costs a global
lookup per read) with the field's name in a comment.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Optional

__all__ = [
    "NODE_EVENT", "NODE_KEYS", "NODE_PREVIOUS", "NODE_SEQ", "NODE_STAGE", "NODE_TS",
    "PM_NODE", "PM_RANK", "PM_START_SEQ", "PM_START_TS", "START_RANK",
    "Final", "Node", "PartialMatch",
    "after", "after_suffix", "before", "before_suffix", "key_sequence_of", "keyed_node", "lineage_key",
    "materialize", "node_positions", "pm_visit_key", "rank_of", "visit_key",
]

# buffer node fields (NODE_KEYS only with `dedupe_runs`)
NODE_STAGE, NODE_EVENT, NODE_TS, NODE_SEQ, NODE_PREVIOUS, NODE_KEYS = 0, 1, 2, 3, 4, 5
# partial match fields
PM_NODE, PM_START_TS, PM_START_SEQ, PM_RANK = 0, 1, 2, 3

Node = tuple  # (stage_name, event, ts, seq, previous_node[, key sequence])
PartialMatch = tuple  # (node, start_ts, start_seq, rank)
Final = tuple  # (complete partial match, rank of the partial match it came from, successor index)

# Ranks. A rank is a tuple of ints ending in 0, compared lexicographically, unique among the
# partial matches of one first event. When a partial match of rank `r` has several successors at
# the event numbered `seq`, the one that stays where it is (an IGNORE back to its own state)
# keeps `r`, so it is never re-inserted; the successors computed before it get
# `r[:-1] + (before(seq, j), 0)` (just below `r`, above any older such successor), those after
# it (or all of them, when none stays) `r + (after(seq, j), 0)` (just above `r`, below any
# older such successor). A single successor keeps `r`. So the order of ranks is always Flink's
# visiting order, whatever order the buckets are walked in.
START_RANK = (0,)
_BIG = 1 << 62  # above any event sequence number
_SPAN = 1 << 20  # above any number of successors of one partial match


def before(rank: tuple, seq: int, j: int) -> tuple:
    """The rank of successor `j` (at event `seq`) computed before the one that keeps `rank`."""
    return rank[:-1] + ((seq - _BIG) * _SPAN + j, 0)


def after(rank: tuple, seq: int, j: int) -> tuple:
    """The rank of successor `j` (at event `seq`) computed after the one that keeps `rank`."""
    return rank + ((_BIG - seq) * _SPAN + j, 0)


def before_suffix(seq: int, j: int) -> tuple:
    """`before(rank, seq, j) == rank[:-1] + before_suffix(seq, j)`: computed once for many ranks."""
    return ((seq - _BIG) * _SPAN + j, 0)


def after_suffix(seq: int, j: int) -> tuple:
    """`after(rank, seq, j) == rank + after_suffix(seq, j)`: computed once for many ranks."""
    return ((_BIG - seq) * _SPAN + j, 0)


def materialize(node: Optional[Node]) -> dict[str, list]:
    """The match dict of a buffer node: stage name -> its events, in stream order."""
    chain = []
    while node is not None:
        chain.append(node)
        node = node[NODE_PREVIOUS]
    out: dict[str, list] = {}
    for n in reversed(chain):
        lst = out.get(n[NODE_STAGE])
        if lst is None:
            out[n[NODE_STAGE]] = [n[NODE_EVENT]]
        else:
            lst.append(n[NODE_EVENT])
    return out


def node_positions(node: Optional[Node]) -> dict[str, list]:
    """Stage name -> positions `(ts, seq)` of its events, in stream order."""
    out: dict[str, list] = {}
    chain = []
    while node is not None:
        chain.append(node)
        node = node[NODE_PREVIOUS]
    for n in reversed(chain):
        out.setdefault(n[NODE_STAGE], []).append((n[NODE_TS], n[NODE_SEQ]))
    return out


def keyed_node(stage: str, event: Any, ts: int, seq: int, previous: Optional[Node], key: Callable) -> Node:
    """A node of a `dedupe_runs` run: it carries its chain's key sequence (see `key_sequence_of`)."""
    keys = ((stage, key(event)),)
    return (stage, event, ts, seq, previous, keys if previous is None else keys + previous[NODE_KEYS])


def key_sequence_of(node: Optional[Node]) -> tuple:
    """`(stage, key(event))` of every event of a partial match, newest first (`dedupe_runs`): what
    its newest node carries (every node of a `dedupe_runs` run is a `keyed_node`)."""
    return () if node is None else node[NODE_KEYS]


def lineage_key(pm: PartialMatch) -> tuple:
    """Start position, then the positions of all its events: orders partial matches totally
    (used to give ranks to partial matches restored from a snapshot that had none)."""
    seqs = []
    node = pm[PM_NODE]
    while node is not None:
        seqs.append(node[NODE_SEQ])
        node = node[NODE_PREVIOUS]
    seqs.reverse()
    return (pm[PM_START_TS], pm[PM_START_SEQ], seqs)


def visit_key(final: Final) -> tuple:
    """Where Flink meets a complete match: its first event, then its parent's rank and index."""
    pm = final[0]
    return (pm[PM_START_TS], pm[PM_START_SEQ], final[1], final[2])


rank_of = operator.itemgetter(PM_RANK)  # a partial match's rank


def pm_visit_key(pm: PartialMatch) -> tuple:
    """Where Flink visits a partial match: its first event, then its rank."""
    return (pm[PM_START_TS], pm[PM_START_SEQ], pm[PM_RANK])
