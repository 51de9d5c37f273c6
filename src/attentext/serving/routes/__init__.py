"""The HTTP routes, one module each, included by `serving.app.create_app`."""
