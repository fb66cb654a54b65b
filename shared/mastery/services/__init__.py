"""The service layer: use cases that combine the domain with the ports."""
