"""The moderation engine: pure rules over one message and what the caller knows of its author.

The pipeline compiles the community's policy (``compile``), calls ``Engine.check`` for each
message, stores each message's ``fingerprint`` for the duplicate rule, and carries out the
verdict (with ``escalate`` for strikes) as durable actions. Nothing here does I/O.
"""

from .engine import Engine, Message, Recent, RecentPost, Rule, Verdict, compile
from .fingerprint import Fingerprint, fingerprint, similarity
from .normalize import Normalized
from .policy import Action, Policy, RuleAction, is_exempt, merge
from .strikes import Escalation, escalate

__all__ = [
    "Action",
    "Engine",
    "Escalation",
    "Fingerprint",
    "Message",
    "Normalized",
    "Policy",
    "Recent",
    "RecentPost",
    "Rule",
    "RuleAction",
    "Verdict",
    "compile",
    "escalate",
    "fingerprint",
    "is_exempt",
    "merge",
    "similarity",
]
