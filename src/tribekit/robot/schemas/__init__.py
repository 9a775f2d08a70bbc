"""API shapes of the robot, one module per concern (as ``robot/router/``)."""
