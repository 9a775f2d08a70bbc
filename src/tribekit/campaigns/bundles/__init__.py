"""Gift packs: sellable sets of products with their own price, stock taken all or nothing."""
