"""The HTTP APIs of the functions: routes, access rules and response views."""
