"""Members: one person per merchant, their channel identities, addresses, tags and timeline."""
