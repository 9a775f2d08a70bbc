"""Broadcasts: the robot's voice to many groups or members at once (``service.py``), each
message a durable delivery sent by the worker within the channels' limits and the members'
consent (``audience.py``, ``deliveries.py``, ``tasks.py``)."""
