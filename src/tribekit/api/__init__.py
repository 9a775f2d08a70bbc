"""The HTTP face: FastAPI app, error envelope, middleware, auth dependencies."""
