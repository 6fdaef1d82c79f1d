"""The three reserved tokens of the Turing Program trace.

They live in their own module because both the machine model (which must refuse state and symbol
names that would collide with them) and the trace codec need them, and neither should import the
other just for three strings.
"""

from __future__ import annotations

START = "$"
"""Opens a trace: `$ C0 | C1 | ... | CT | #`."""

SEP = "|"
"""Closes every configuration."""

END = "#"
"""Follows the last configuration when that configuration halts."""

RESERVED = frozenset({START, SEP, END})
"""Tokens no state or symbol may be named, so that every trace token has one meaning."""
