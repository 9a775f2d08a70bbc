"""Flash sales built for the burst: two engines (Redis, SQL) behind one interface.

* ``engine.py``: the interface (``FlashEngine``), the values that cross it, the registry.
* ``sql_engine.py``: one conditional statement per attempt; ``redis_engine.py`` and
  ``stream.py``: one Lua script per attempt, the reservations drained into the database.
* ``orders.py``: the rows a won attempt becomes (the same for both engines).
* ``tokens.py``: the member's flash token, checked in-process, and the members refused.
* ``live.py``: this process's view of the sales and the sold-out flag; ``runtime.py``: what
  one process holds (engines, live view), shared by the routes and the sweeps.
* ``service.py``: made, changed, read; the live state; the purchase. ``router.py``: the routes.
* ``tasks.py``: start, end, expiry; ``settle.py``: a flash order paid, closed or paid late.
"""
