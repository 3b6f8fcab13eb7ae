"""Test support: a real local web server, a site generator and their pytest fixtures."""
