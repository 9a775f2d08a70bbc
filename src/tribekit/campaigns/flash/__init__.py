"""Flash sales built for the burst: two engines (Redis, SQL) behind one interface."""
