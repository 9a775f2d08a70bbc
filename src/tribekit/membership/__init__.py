"""The membership program: levels, benefits, the points ledger, paid plans."""
