"""Group buys priced by the size a team reaches (the gift-pack day)."""
