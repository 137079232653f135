"""Local web app over the runtime."""
