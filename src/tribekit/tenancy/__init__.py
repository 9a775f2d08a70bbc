"""Merchants (tenants), staff users, roles, API tokens and web sessions."""
