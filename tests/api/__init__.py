"""API tests: Flask's test client against the application factory."""
