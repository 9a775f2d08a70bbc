"""The catalog: products (goods and events), stock, quantity ladders."""
